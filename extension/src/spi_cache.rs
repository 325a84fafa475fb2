//! Prepared SPI statements kept for the life of the backend, one per query text.

use pgrx::pg_sys::PgOid;
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiResult};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

thread_local! {
    static PLANS: RefCell<HashMap<String, Rc<OwnedPreparedStatement>>> = RefCell::new(HashMap::new());
}

/// The kept plan for `sql`, prepared on first use. Returned as an `Rc` so no borrow is held
/// while it runs (its triggers may prepare statements of their own).
pub fn prepared(
    client: &SpiClient<'_>,
    sql: &str,
    args: &[PgOid],
) -> SpiResult<Rc<OwnedPreparedStatement>> {
    if let Some(plan) = PLANS.with(|p| p.borrow().get(sql).cloned()) {
        return Ok(plan);
    }
    let plan = Rc::new(client.prepare_mut(sql, args)?.keep());
    PLANS.with(|p| p.borrow_mut().insert(sql.to_string(), plan.clone()));
    Ok(plan)
}
