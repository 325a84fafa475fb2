//! The seed's correlation contexts (section 3.1) for Rust applications: a correlation id in scope
//! for a task (the seed's `ContextVar` is Tokio's task-local here), a context opened inside
//! another is its child and carries its id as the parent, and every event the [`client`] builds
//! in a context is logged with both.
//!
//! ```no_run
//! # async fn example(audit: auditlog_shim::client::Collector) -> anyhow::Result<()> {
//! use auditlog_shim::correlation::{current, with_correlation_id, CorrelationContext};
//! use serde_json::json;
//! CorrelationContext::default()
//!     .run(async {
//!         // correlation_id CORR_…_root
//!         audit.log("auth.login.success", json!({}), json!({"user_id": 7})).await?;
//!         with_correlation_id("payment", async {
//!             // correlation_id CORR_…_payment, parent_correlation_id the root's
//!             audit.log("data.payment.create", json!({}), json!({})).await
//!         })
//!         .await?;
//!         // A spawned task starts with no task-locals: carry the context over by hand.
//!         let context = current().expect("inside a context");
//!         tokio::spawn(context.scope(async { /* … */ })).await?;
//!         Ok(())
//!     })
//!     .await
//! # }
//! ```
//!
//! [`client`]: crate::client

use auditlog_core::correlation::generate_for_context;
use serde_json::Value;
use std::future::Future;

tokio::task_local! {
    static CURRENT: Correlation;
}

/// The correlation in scope: its id, and the id of the context it was opened in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Correlation {
    pub id: String,
    pub parent: Option<String>,
}

impl Correlation {
    /// Runs `f` in this correlation.
    pub async fn scope<F: Future>(self, f: F) -> F::Output {
        CURRENT.scope(self, f).await
    }
}

/// The correlation in scope for the running task, if any.
pub fn current() -> Option<Correlation> {
    CURRENT.try_with(Correlation::clone).ok()
}

/// The seed's `CorrelationContext`: opened when it starts to run, its id generated then (a
/// child's when a context is in scope) unless given.
#[derive(Clone, Debug)]
pub struct CorrelationContext {
    correlation_id: Option<String>,
    operation_type: String,
}

impl Default for CorrelationContext {
    /// The seed's default operation type.
    fn default() -> Self {
        CorrelationContext::new("operation")
    }
}

impl CorrelationContext {
    pub fn new(operation_type: &str) -> Self {
        CorrelationContext {
            correlation_id: None,
            operation_type: operation_type.to_string(),
        }
    }

    /// A context with an id of the caller's (one received from upstream, say).
    pub fn with_id(correlation_id: &str) -> Self {
        CorrelationContext {
            correlation_id: Some(correlation_id.to_string()),
            ..CorrelationContext::default()
        }
    }

    fn open(self) -> Correlation {
        let enclosing = current();
        let id = self.correlation_id.unwrap_or_else(|| {
            let parent = enclosing.as_ref().map(|_| self.operation_type.as_str());
            generate_for_context(chrono::Utc::now().timestamp(), parent)
        });
        match enclosing {
            // Opening the id already in scope is staying in that context, not becoming a child
            // of itself.
            Some(same) if same.id == id => same,
            enclosing => Correlation {
                id,
                parent: enclosing.map(|e| e.id),
            },
        }
    }

    /// Runs `f` in this context; the enclosing one is back in scope when it ends.
    pub async fn run<F: Future>(self, f: F) -> F::Output {
        self.open().scope(f).await
    }

    /// The same for synchronous code running on a task.
    pub fn run_sync<R>(self, f: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(self.open(), f)
    }
}

/// The seed's `with_correlation_id` decorator: `f` in a new context of `operation_type`.
pub async fn with_correlation_id<F: Future>(operation_type: &str, f: F) -> F::Output {
    CorrelationContext::new(operation_type).run(f).await
}

/// An event's `user_context` with the correlation in scope added. A correlation id the caller
/// put there wins, as in the seed's `AuditEvent`; a context that is not an object is left for
/// the database to record as malformed.
pub fn add_to_user_context(user_context: Value) -> Value {
    let Some(correlation) = current() else {
        return user_context;
    };
    let mut map = match user_context {
        Value::Object(m) if m.contains_key("correlation_id") => return Value::Object(m),
        Value::Object(m) => m,
        Value::Null => serde_json::Map::new(),
        other => return other,
    };
    map.insert("correlation_id".into(), correlation.id.into());
    if let Some(parent) = correlation.parent {
        map.insert("parent_correlation_id".into(), parent.into());
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;
    use tokio::sync::Barrier;

    fn id() -> String {
        current().expect("a context in scope").id
    }

    #[tokio::test]
    async fn nested_contexts_are_children_of_the_enclosing_one() {
        assert_eq!(current(), None);
        CorrelationContext::default()
            .run(async {
                let root = current().unwrap();
                assert!(root.id.starts_with("CORR_") && root.id.ends_with("_root"));
                assert_eq!(root.parent, None);
                with_correlation_id("payment", async {
                    let child = current().unwrap();
                    assert!(child.id.ends_with("_payment"), "{}", child.id);
                    assert_eq!(child.parent.as_deref(), Some(root.id.as_str()));
                    CorrelationContext::new("db").run_sync(|| {
                        let grandchild = current().unwrap();
                        assert!(grandchild.id.ends_with("_db"));
                        assert_eq!(grandchild.parent, Some(child.id.clone()));
                    });
                    assert_eq!(current(), Some(child));
                })
                .await;
                assert_eq!(current(), Some(root));
            })
            .await;
        assert_eq!(current(), None);
    }

    #[tokio::test]
    async fn a_given_id_is_used_as_is() {
        let upstream = CorrelationContext::with_id("CORR_upstream");
        upstream
            .run(async {
                assert_eq!(
                    current(),
                    Some(Correlation {
                        id: "CORR_upstream".into(),
                        parent: None
                    })
                );
                let inner = CorrelationContext::with_id("CORR_inner").run(async { current() });
                assert_eq!(
                    inner.await.unwrap().parent.as_deref(),
                    Some("CORR_upstream")
                );
                // The same id again: the same context, not its own child.
                let again = CorrelationContext::with_id("CORR_upstream").run(async { current() });
                assert_eq!(again.await.unwrap().parent, None);
            })
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_tasks_each_see_their_own_context() {
        // Both tasks are inside their contexts at once, and check again after the other has
        // opened and left a nested one.
        let barrier = Arc::new(Barrier::new(2));
        let task = |op: &'static str| {
            let barrier = barrier.clone();
            tokio::spawn(with_correlation_id(op, async move {
                let mine = id();
                barrier.wait().await;
                with_correlation_id("inner", async { assert_ne!(id(), mine) }).await;
                barrier.wait().await;
                assert_eq!(id(), mine);
                mine
            }))
        };
        let (a, b) = (task("a"), task("b"));
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        // Spawned outside any context, each is a root whatever its operation type.
        assert!(a.ends_with("_root") && b.ends_with("_root"));
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn a_spawned_task_gets_a_context_only_when_given_one() {
        CorrelationContext::default()
            .run(async {
                assert_eq!(tokio::spawn(async { current() }).await.unwrap(), None);
                let carried = tokio::spawn(current().unwrap().scope(async { current() }));
                assert_eq!(carried.await.unwrap(), current());
            })
            .await;
    }

    #[tokio::test]
    async fn events_get_the_correlation_in_scope() {
        assert_eq!(
            add_to_user_context(json!({"user_id": 1})),
            json!({"user_id": 1})
        );
        CorrelationContext::with_id("CORR_a")
            .run(with_correlation_id("b", async {
                let b = id();
                assert_eq!(
                    add_to_user_context(json!({"user_id": 1})),
                    json!({"user_id": 1, "correlation_id": b, "parent_correlation_id": "CORR_a"})
                );
                assert_eq!(
                    add_to_user_context(Value::Null),
                    json!({"correlation_id": b, "parent_correlation_id": "CORR_a"})
                );
                let own = json!({"correlation_id": "CORR_mine"});
                assert_eq!(add_to_user_context(own.clone()), own);
                assert_eq!(add_to_user_context(json!("odd")), json!("odd"));
            }))
            .await;
    }
}
