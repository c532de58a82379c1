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
        let zone = rec.zone.trim_end_matches('.');
        let base = format!("/v2/domains/{}/records", encode(zone, true));
        let rel = relative(zone, &rec.name);
        // The filter takes the fully qualified name; records carry the relative one.
        let full = fqdn(zone, &rec.name);
        let records: Vec<Value> = self
            .list_all(
                &format!("{base}{}", query(&[("name", &full), ("type", "A")])),
                "domain_records",
            )
            .await?
            .into_iter()
            .filter(|r| r["type"] == "A" && r["name"].as_str() == Some(&rel))
            .collect();
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
            match self
                .request(Method::DELETE, &format!("{base}/{}", r["id"]), None, Retry::All)
                .await
            {
                Err(e) if e.status != Some(reqwest::StatusCode::NOT_FOUND) => return Err(e.into()),
                _ => {}
            }
        }
        Ok(change)
    }
}
