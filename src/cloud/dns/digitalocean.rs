//! A records in DigitalOcean domains: one domain record per address.

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};

use super::record::{ARecord, Dns, DnsChange, check_ips, diff, fqdn, relative};
use crate::cloud::digitalocean::{DigitalOcean, Retry, query};
use crate::cloud::sigv4::encode;
use crate::cloud::types::CloudResult;

#[async_trait]
impl Dns for DigitalOcean {
    fn name(&self) -> &'static str {
        "digitalocean"
    }

    async fn a_record(&self, rec: &ARecord, apply: bool) -> CloudResult<DnsChange> {
        check_ips(&rec.ips)?;
        let (base, rel, records) = self.a_records(&rec.zone, &rec.name).await?;
        let current: Vec<String> = records
            .iter()
            .filter_map(|r| r["data"].as_str().map(str::to_string))
            .collect();
        let (wanted, added, removed) = diff(&current, &rec.ips, rec.exact);
        // Records to delete: those of removed values, and duplicates of kept ones.
        let mut seen = Vec::new();
        let mut delete = Vec::new();
        let mut retune = Vec::new();
        for r in &records {
            let data = r["data"].as_str().unwrap_or("").to_string();
            if !wanted.contains(&data) || seen.contains(&data) {
                if rec.exact {
                    delete.push(r);
                }
                continue;
            }
            seen.push(data);
            if rec.ttl.is_some_and(|t| r["ttl"].as_u64() != Some(u64::from(t))) {
                retune.push(r);
            }
        }
        let change = DnsChange {
            added: added.clone(),
            removed,
            ttl: rec.ttl.filter(|_| !retune.is_empty()),
            ..Default::default()
        };
        if !apply {
            return Ok(change);
        }
        for ip in &added {
            let mut body = json!({"type": "A", "name": rel, "data": ip});
            if let Some(t) = rec.ttl {
                body["ttl"] = json!(t);
            }
            self.request(Method::POST, &base, Some(&body), Retry::Safe).await?;
        }
        for r in retune {
            let body = json!({"type": "A", "ttl": rec.ttl});
            self.request(Method::PATCH, &format!("{base}/{}", r["id"]), Some(&body), Retry::All)
                .await?;
        }
        for r in delete {
            self.delete_record(&base, r).await?;
        }
        Ok(change)
    }

    /// One DELETE per domain record of the name.
    async fn delete_a(&self, zone: &str, name: &str, _comment: Option<&str>, apply: bool) -> CloudResult<DnsChange> {
        let (base, _, records) = self.a_records(zone, name).await?;
        let mut removed: Vec<String> = Vec::new();
        for r in &records {
            let data = r["data"].as_str().unwrap_or("").to_string();
            if !removed.contains(&data) {
                removed.push(data);
            }
        }
        if apply {
            for r in &records {
                self.delete_record(&base, r).await?;
            }
        }
        Ok(DnsChange {
            removed,
            ..Default::default()
        })
    }
}

impl DigitalOcean {
    /// The zone's records path, the name relative to the zone (`www`, `@`) and the name's
    /// A records.
    async fn a_records(&self, zone: &str, name: &str) -> CloudResult<(String, String, Vec<Value>)> {
        let zone = zone.trim_end_matches('.');
        let base = format!("/v2/domains/{}/records", encode(zone, true));
        let rel = relative(zone, name);
        // The filter takes the fully qualified name; records carry the relative one.
        let full = fqdn(zone, name);
        let records: Vec<Value> = self
            .list_all(
                &format!("{base}{}", query(&[("name", &full), ("type", "A")])),
                "domain_records",
            )
            .await?
            .into_iter()
            .filter(|r| r["type"] == "A" && r["name"].as_str() == Some(&rel))
            .collect();
        Ok((base, rel, records))
    }

    /// DELETE of one domain record; one already gone counts as deleted.
    async fn delete_record(&self, base: &str, record: &Value) -> CloudResult<()> {
        match self
            .request(Method::DELETE, &format!("{base}/{}", record["id"]), None, Retry::All)
            .await
        {
            Err(e) if e.status != Some(reqwest::StatusCode::NOT_FOUND) => Err(e.into()),
            _ => Ok(()),
        }
    }
}
