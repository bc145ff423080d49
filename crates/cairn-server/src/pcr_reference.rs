//! `--pcr-reference FILE`: the PCR values a TPM host's quotes may show. A JSON document:
//!
//! ```json
//! { "on_mismatch": "refuse" | "warn",
//!   "default": { "7": ["<sha256 hex>", …] },
//!   "hosts": { "h_…": { "0": ["<sha256 hex>", …] } } }
//! ```
//!
//! `default` applies to every TPM host; a host's own entry replaces the default for the PCRs
//! it names. A PCR without a list is not checked. A value off its list refuses the attestation
//! (`pcr-mismatch`), or with `"on_mismatch": "warn"` gives a `warning` PAT that names the PCR
//! in `drift` as `pcr:N`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use cairn_proto::HostId;
use cairn_proto::lifecycle::OnMismatch;
use serde::Deserialize;

type Lists = BTreeMap<u32, Vec<[u8; 32]>>;

#[derive(Debug, Default)]
pub struct PcrReference {
    pub on_mismatch: OnMismatch,
    default: Lists,
    hosts: HashMap<HostId, Lists>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    on_mismatch: OnMismatch,
    #[serde(default)]
    default: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    hosts: HashMap<HostId, BTreeMap<String, Vec<String>>>,
}

#[derive(Debug, thiserror::Error)]
#[error("--pcr-reference {path}: {reason}")]
pub struct PcrReferenceError {
    path: String,
    reason: String,
}

impl PcrReference {
    pub fn read(path: &Path) -> Result<Self, PcrReferenceError> {
        let fail = |reason: String| PcrReferenceError {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        Self::parse(&text).map_err(fail)
    }

    /// A reference from a `--pcr-reference` file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let hosts = file
            .hosts
            .into_iter()
            .map(|(id, lists)| Ok((id, lists_of(lists)?)))
            .collect::<Result<_, String>>()?;
        Ok(PcrReference {
            on_mismatch: file.on_mismatch,
            default: lists_of(file.default)?,
            hosts,
        })
    }

    /// The lists that apply to `host`.
    pub fn for_host(&self, host: &HostId) -> Lists {
        let mut lists = self.default.clone();
        if let Some(own) = self.hosts.get(host) {
            lists.extend(own.iter().map(|(i, l)| (*i, l.clone())));
        }
        lists
    }
}

fn lists_of(raw: BTreeMap<String, Vec<String>>) -> Result<Lists, String> {
    raw.into_iter()
        .map(|(index, values)| {
            let index: u32 = index
                .parse()
                .ok()
                .filter(|i| *i < 24)
                .ok_or_else(|| format!("PCR index {index:?} is not 0 to 23"))?;
            let values = values
                .iter()
                .map(|v| {
                    hex::decode(v)
                        .ok()
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                        .ok_or_else(|| format!("PCR {index}: {v:?} is not 64 hex digits"))
                })
                .collect::<Result<_, _>>()?;
            Ok((index, values))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_lists_replace_the_default_per_pcr() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ref.json");
        let (a, b) = ("aa".repeat(32), "bb".repeat(32));
        let host = "h_0123456789abcdef0123456789abcdef";
        std::fs::write(
            &path,
            format!(
                r#"{{"on_mismatch":"warn","default":{{"0":["{a}"],"7":["{a}"]}},"hosts":{{"{host}":{{"7":["{b}"]}}}}}}"#
            ),
        )
        .unwrap();
        let reference = PcrReference::read(&path).unwrap();
        assert_eq!(reference.on_mismatch, OnMismatch::Warn);
        let lists = reference.for_host(&host.parse().unwrap());
        assert_eq!(lists[&0], vec![[0xaa; 32]]);
        assert_eq!(lists[&7], vec![[0xbb; 32]]);
        let other = reference.for_host(&"h_ffffffffffffffffffffffffffffffff".parse().unwrap());
        assert_eq!(other[&7], vec![[0xaa; 32]]);
        for bad in [
            r#"{"default":{"24":[]}}"#,
            r#"{"default":{"7":["zz"]}}"#,
            r#"{"on_mismatch":"ignore"}"#,
            r#"{"defaults":{}}"#,
        ] {
            std::fs::write(&path, bad).unwrap();
            assert!(PcrReference::read(&path).is_err(), "{bad}");
        }
    }
}
