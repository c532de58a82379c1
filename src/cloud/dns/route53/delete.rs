//! `dns::delete` on Route 53: one `ChangeResourceRecordSets` batch deleting every A record
//! set of the name, each repeated exactly as `ListResourceRecordSets` gave it (Route 53
//! refuses, with `InvalidChangeBatch`, a DELETE that differs from the set in a value, the
//! TTL, the routing or the health check); then the health checks runbook made for those
//! sets, unless another record set of the zone uses them.

use reqwest::Method;

use super::{Route53, batch_xml, child_text, unescape};
use crate::cloud::dns::record::{DnsChange, fqdn};
use crate::cloud::types::CloudResult;

impl Route53 {
    pub(super) async fn delete_sets(
        &self,
        zone: &str,
        name: &str,
        comment: Option<&str>,
        apply: bool,
    ) -> CloudResult<DnsChange> {
        let (zone_id, zone_name) = self.zone(zone).await?;
        let name = fqdn(&zone_name, name);
        let sets = self.listed_sets(&zone_id, &name).await?;
        let mut change = DnsChange::default();
        for (set, xml) in &sets {
            let values = match set.values.is_empty() {
                true => alias_of(xml).into_iter().collect(),
                false => set.values.clone(),
            };
            for v in values {
                if !change.removed.contains(&v) {
                    change.removed.push(v);
                }
            }
        }
        // The checks these sets use that runbook made: they go with the record unless a
        // set of another name (or type) points at them too.
        let mut ours: Vec<String> = Vec::new();
        for id in sets.iter().filter_map(|(s, _)| s.health_check.as_ref()) {
            if !ours.contains(id) && self.get_health_check(id).await?.is_some_and(|c| c.ours()) {
                ours.push(id.clone());
            }
        }
        if !ours.is_empty() {
            let elsewhere = self.checks_used_elsewhere(&zone_id, &name).await?;
            ours.retain(|id| !elsewhere.contains(id));
        }
        for (set, _) in &sets {
            if set.health_check.as_ref().is_some_and(|id| ours.contains(id)) {
                change.health_checks.extend(set.values.iter().cloned());
            }
        }
        if !apply || sets.is_empty() {
            return Ok(change);
        }
        let changes: String = sets
            .iter()
            .map(|(_, xml)| {
                format!("      <Change>\n        <Action>DELETE</Action>\n        {xml}\n      </Change>\n")
            })
            .collect();
        let path = format!("/2013-04-01/hostedzone/{zone_id}/rrset");
        self.call(Method::POST, &path, &[], Some(batch_xml(comment, &changes)))
            .await?;
        // Only now: a check is deleted once no record points at it.
        let mut left = Vec::new();
        for id in &ours {
            if let Err(e) = self.delete_health_check(id).await {
                left.push(format!("{id} ({e})"));
            }
        }
        if !left.is_empty() {
            return Err(format!(
                "Route 53: {name} A was deleted, but the health checks runbook made for it could not be deleted \
                 (they are still billed; delete them by hand): {}",
                left.join("; ")
            ));
        }
        Ok(change)
    }

    /// The health check ids that record sets of the zone other than `name`'s A sets use.
    async fn checks_used_elsewhere(&self, zone_id: &str, name: &str) -> CloudResult<Vec<String>> {
        let mut out = Vec::new();
        self.each_record_set(zone_id, |set| {
            let Some(id) = child_text(set, "HealthCheckId") else {
                return;
            };
            let set_name = unescape(child_text(set, "Name").unwrap_or(""))
                .trim_end_matches('.')
                .to_ascii_lowercase();
            if set_name != name || child_text(set, "Type") != Some("A") {
                out.push(id.to_string());
            }
        })
        .await?;
        Ok(out)
    }
}

/// An alias set's target, `alias my-lb-1.us-east-1.elb.amazonaws.com`: what it answers
/// with, in place of addresses.
fn alias_of(xml: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let target = doc.descendants().find(|n| n.tag_name().name() == "DNSName")?.text()?;
    Some(format!("alias {}", target.trim_end_matches('.')))
}
