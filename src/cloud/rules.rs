//! The provider-independent rules: idempotent create, adopting only what carries the run's
//! tag, snapshot with power-off. Written once against `Provider`; providers only speak
//! their API.

use super::types::{CloudResult, Droplet, DropletPlan, DropletSpec, Provider, Snapshot};

/// Looks at the droplet called `spec.name`. One without the run's `tag` is someone else's:
/// adopting (or later destroying) it would be wrong, so it is an error naming both.
pub async fn plan_droplet(p: &dyn Provider, tag: &str, spec: &DropletSpec) -> CloudResult<DropletPlan> {
    let spec = tagged(spec, tag);
    match p.find(&spec.name).await? {
        None => Ok(DropletPlan::Create(spec)),
        Some(d) => {
            check_owned(&d, tag)?;
            let missing: Vec<String> = spec.tags.iter().filter(|t| !d.tags.contains(t)).cloned().collect();
            Ok(if missing.is_empty() {
                DropletPlan::Exists(d)
            } else {
                DropletPlan::Tag(d, missing)
            })
        }
    }
}

/// The spec with the run's tag added (every droplet runbook makes carries it).
pub fn tagged(spec: &DropletSpec, tag: &str) -> DropletSpec {
    let mut spec = spec.clone();
    if !spec.tags.iter().any(|t| t == tag) {
        spec.tags.push(tag.to_string());
    }
    spec
}

pub fn check_owned(d: &Droplet, tag: &str) -> CloudResult<()> {
    if d.tags.iter().any(|t| t == tag) {
        return Ok(());
    }
    Err(format!(
        "droplet `{}` (id {}) already exists without tag `{tag}` (its tags: [{}]); it belongs to something else: \
         pick another name, or add the tag `{tag}` to adopt it",
        d.name,
        d.id,
        d.tags.join(", ")
    ))
}

/// Carries out a plan; returns the droplet as it is afterwards.
pub async fn apply_droplet(p: &dyn Provider, plan: DropletPlan) -> CloudResult<Droplet> {
    match plan {
        DropletPlan::Exists(d) => Ok(d),
        DropletPlan::Tag(mut d, missing) => {
            p.add_tags(&d, &missing).await?;
            d.tags.extend(missing);
            Ok(d)
        }
        DropletPlan::Create(spec) => p.create(&spec).await,
    }
}

/// Snapshot of a running droplet, consistent on disk: power off, snapshot, power on again
/// (also when the snapshot failed, so a failed snapshot does not leave the server down).
pub async fn snapshot_with_power_off(p: &dyn Provider, d: &Droplet, name: &str) -> CloudResult<Snapshot> {
    let was_on = d.status == "active";
    if was_on {
        p.power_off(d).await?;
    }
    let result = p.snapshot(d, name).await;
    if was_on {
        match (&result, p.power_on(d).await) {
            (Ok(_), Err(e)) => return Err(e),
            (Err(e), Err(on)) => {
                return Err(format!(
                    "{e}; droplet `{}` is left powered off: powering it on again failed too ({on})",
                    d.name
                ));
            }
            _ => {}
        }
    }
    result
}
