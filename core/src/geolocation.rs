//! Where an address is: country, region, city and autonomous system, from MaxMind-format
//! (`.mmdb`) databases the DBA provides (GeoLite2 City and ASN, DB-IP Lite, IPinfo Lite, or a
//! company's own map of its offices). Each file is memory-mapped once and re-opened when it
//! changes; a lookup reads a few pages and allocates only the strings it returns.

use maxminddb::{Mmap, Reader};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// What the databases know of one address; empty fields are left out of `enrichment_data`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Place {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_organization: Option<String>,
}

impl Place {
    pub fn is_empty(&self) -> bool {
        *self == Place::default()
    }

    /// Fills what `other` knows and this does not (the first database named wins).
    fn merge(&mut self, other: Place) {
        fn fill<T>(a: &mut Option<T>, b: Option<T>) {
            if a.is_none() {
                *a = b;
            }
        }
        fill(&mut self.country, other.country);
        fill(&mut self.country_name, other.country_name);
        fill(&mut self.region, other.region);
        fill(&mut self.city, other.city);
        fill(&mut self.asn, other.asn);
        fill(&mut self.as_organization, other.as_organization);
    }
}

/// The keys of a record that any of the common layouts uses: GeoIP2/GeoLite2 City and Country
/// (DB-IP Lite follows them), GeoLite2 ASN, and IPinfo Lite's flat one.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Record<'a> {
    #[serde(borrow)]
    country: Option<Country<'a>>,
    #[serde(borrow)]
    subdivisions: Option<Vec<Named<'a>>>,
    #[serde(borrow)]
    city: Option<Named<'a>>,
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<&'a str>,
    // IPinfo Lite
    country_code: Option<&'a str>,
    asn: Option<&'a str>,
    as_name: Option<&'a str>,
}

/// GeoIP2's country is a map; IPinfo Lite's is the country's name.
#[derive(Deserialize)]
#[serde(untagged)]
enum Country<'a> {
    #[serde(borrow)]
    Map(Named<'a>),
    Name(&'a str),
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Named<'a> {
    iso_code: Option<&'a str>,
    #[serde(borrow)]
    names: BTreeMap<&'a str, &'a str>,
}

impl Named<'_> {
    fn english(&self) -> Option<String> {
        self.names.get("en").map(|s| s.to_string())
    }
}

impl Record<'_> {
    fn place(self) -> Place {
        let region = self.subdivisions.as_ref().and_then(|s| s.first());
        let (iso, name) = match &self.country {
            Some(Country::Map(c)) => (c.iso_code, c.english()),
            Some(Country::Name(n)) => (None, Some(n.to_string())),
            None => (None, None),
        };
        Place {
            country: iso.or(self.country_code).map(String::from),
            country_name: name,
            region: region.and_then(|r| r.english().or_else(|| r.iso_code.map(String::from))),
            city: self.city.as_ref().and_then(Named::english),
            asn: self.autonomous_system_number.or_else(|| {
                self.asn
                    .and_then(|a| a.trim_start_matches("AS").parse().ok())
            }),
            as_organization: self
                .autonomous_system_organization
                .or(self.as_name)
                .map(String::from),
        }
    }
}

/// One database file as it was opened: re-opened when any of these change.
#[derive(Clone, Copy, PartialEq)]
struct Identity {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: u64,
}

fn identity(path: &Path) -> std::io::Result<Identity> {
    let m = std::fs::metadata(path)?;
    Ok(Identity {
        len: m.len(),
        modified: m.modified().ok(),
        #[cfg(unix)]
        inode: std::os::unix::fs::MetadataExt::ino(&m),
    })
}

struct Database {
    path: PathBuf,
    identity: Identity,
    reader: Reader<Mmap>,
}

impl Database {
    fn open(path: &Path) -> Result<Database, String> {
        let identity = identity(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: the map stays valid for as long as the file's inode lives, and a replaced
        // file (a new inode, as geoipupdate and `mv` make it) is noticed and re-opened; the
        // one unsafe case, rewriting the same file in place, is documented as unsupported.
        let reader = unsafe { Reader::open_mmap(path) }
            .map_err(|e| format!("{}: not a MaxMind database ({e})", path.display()))?;
        Ok(Database {
            path: path.to_path_buf(),
            identity,
            reader,
        })
    }

    fn lookup(&self, ip: IpAddr) -> Result<Place, String> {
        let err = |e: maxminddb::MaxMindDbError| format!("{}: {e}", self.path.display());
        let found = self.reader.lookup(ip).map_err(err)?;
        Ok(found
            .decode::<Record>()
            .map_err(err)?
            .map(Record::place)
            .unwrap_or_default())
    }
}

/// How often a database's file is looked at for a change, at most.
const RECHECK: Duration = Duration::from_secs(1);

/// Addresses remembered with their places at most; beyond it the memo starts again.
const MEMO: usize = 10_000;

/// The databases named by a setting (comma-separated paths), each consulted in turn. What they
/// said of an address is remembered until they are opened again: decoding a record costs more
/// than the rest of an event's enrichment.
pub struct Databases {
    setting: String,
    opened: Result<Vec<Database>, String>,
    checked: Instant,
    memo: HashMap<IpAddr, Option<Place>>,
}

impl Databases {
    /// Opens the databases a setting names; an empty setting names none.
    pub fn open(setting: &str) -> Databases {
        let opened = paths(setting).iter().map(|p| Database::open(p)).collect();
        Databases {
            setting: setting.to_string(),
            opened,
            checked: Instant::now(),
            memo: HashMap::new(),
        }
    }

    pub fn setting(&self) -> &str {
        &self.setting
    }

    /// Re-opens every database if the setting's files changed (checked once a second at most).
    pub fn refresh(&mut self) {
        if self.checked.elapsed() < RECHECK {
            return;
        }
        self.checked = Instant::now();
        let current = match &self.opened {
            Ok(dbs) => dbs
                .iter()
                .all(|d| identity(&d.path).is_ok_and(|i| i == d.identity)),
            Err(_) => false,
        };
        if !current {
            *self = Databases::open(&self.setting.clone());
        }
    }

    /// What the databases know of `ip` (`None` when none names any), or why they cannot say.
    pub fn lookup(&mut self, ip: IpAddr) -> Result<Option<Place>, String> {
        if let Some(known) = self.memo.get(&ip) {
            return Ok(known.clone());
        }
        let dbs = self.opened.as_ref().map_err(Clone::clone)?;
        let mut place = Place::default();
        for db in dbs {
            place.merge(db.lookup(ip)?);
        }
        let found = (!place.is_empty()).then_some(place);
        if self.memo.len() >= MEMO {
            self.memo.clear();
        }
        self.memo.insert(ip, found.clone());
        Ok(found)
    }
}

fn paths(setting: &str) -> Vec<PathBuf> {
    setting
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// Checks a setting's value: every path absolute. Whether the files open is told at lookup
/// (a file missing when the server starts must not stop it).
pub fn check_setting(setting: &str) -> Result<(), String> {
    match paths(setting).iter().find(|p| !p.is_absolute()) {
        Some(p) => Err(format!("\"{}\" is not an absolute path", p.display())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    fn both() -> Databases {
        Databases::open(&format!(
            "{}, {}",
            fixture("geo-city.mmdb"),
            fixture("geo-asn.mmdb")
        ))
    }

    fn at(dbs: &mut Databases, ip: &str) -> Option<Place> {
        dbs.lookup(ip.parse().unwrap()).unwrap()
    }

    #[test]
    fn city_and_asn_from_two_files_v4_and_v6() {
        let mut dbs = both();
        let london = at(&mut dbs, "81.2.69.142").unwrap();
        assert_eq!(
            london,
            Place {
                country: Some("GB".into()),
                country_name: Some("United Kingdom".into()),
                region: Some("England".into()),
                city: Some("London".into()),
                asn: Some(20712),
                as_organization: Some("Andrews & Arnold Ltd".into()),
            }
        );
        let amsterdam = at(&mut dbs, "2001:67c:2e8:22::c100:68b").unwrap();
        assert_eq!(
            (
                amsterdam.country.as_deref(),
                amsterdam.city.as_deref(),
                amsterdam.asn
            ),
            (Some("NL"), Some("Amsterdam"), Some(3333))
        );
        // An IPv4 address written as IPv6 finds the IPv4 network.
        assert_eq!(
            at(&mut dbs, "::ffff:81.2.69.1").unwrap().city.as_deref(),
            Some("London")
        );
    }

    #[test]
    fn partial_and_missing() {
        let mut dbs = both();
        let google = at(&mut dbs, "8.8.8.8").unwrap();
        assert_eq!(google.country.as_deref(), Some("US"));
        assert_eq!(
            (&google.region, &google.city, google.asn),
            (&None, &None, Some(15169))
        );
        assert_eq!(at(&mut dbs, "203.0.113.5"), None);
        assert_eq!(at(&mut Databases::open(""), "81.2.69.142"), None);
        assert_eq!(
            serde_json::to_value(&google).unwrap(),
            serde_json::json!({"country": "US", "country_name": "United States",
                               "asn": 15169, "as_organization": "GOOGLE"})
        );
    }

    #[test]
    fn ipinfo_lite_layout() {
        let r = Record {
            country: Some(Country::Name("France")),
            country_code: Some("FR"),
            asn: Some("AS3215"),
            as_name: Some("Orange S.A."),
            ..Default::default()
        };
        let p = r.place();
        assert_eq!(
            (
                p.country.as_deref(),
                p.country_name.as_deref(),
                p.asn,
                p.as_organization.as_deref()
            ),
            (Some("FR"), Some("France"), Some(3215), Some("Orange S.A."))
        );
    }

    #[test]
    fn bad_settings_and_files() {
        assert!(check_setting("/a.mmdb, relative/geo.mmdb").is_err());
        check_setting("/nonexistent/geo.mmdb").unwrap();
        let ip = "8.8.8.8".parse().unwrap();
        let missing = Databases::open("/nonexistent/geo.mmdb").lookup(ip);
        assert!(missing.unwrap_err().contains("/nonexistent/geo.mmdb"));
        let not_mmdb = Databases::open(&fixture("make-geo-fixtures.pl")).lookup(ip);
        assert!(not_mmdb.unwrap_err().contains("not a MaxMind database"));
    }

    #[test]
    fn the_memo_is_bounded() {
        let mut dbs = both();
        for i in 0..=MEMO as u32 {
            at(
                &mut dbs,
                &std::net::Ipv4Addr::from(0x5100_0000 + i).to_string(),
            );
        }
        assert!(dbs.memo.len() <= MEMO);
        assert_eq!(
            at(&mut dbs, "81.2.69.142").unwrap().city.as_deref(),
            Some("London")
        );
    }

    #[test]
    fn a_replaced_file_is_reopened() {
        let dir = std::env::temp_dir().join(format!("auditlog-geo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let live = dir.join("live.mmdb");
        let swap = |from: &str| {
            let tmp = dir.join("next.mmdb");
            std::fs::copy(fixture(from), &tmp).unwrap();
            std::fs::rename(&tmp, &live).unwrap();
        };
        swap("geo-asn.mmdb");
        let mut dbs = Databases::open(live.to_str().unwrap());
        assert_eq!(at(&mut dbs, "81.2.69.142").unwrap().city, None);
        swap("geo-city.mmdb");
        dbs.checked -= RECHECK;
        dbs.refresh();
        assert_eq!(
            at(&mut dbs, "81.2.69.142").unwrap().city.as_deref(),
            Some("London")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
