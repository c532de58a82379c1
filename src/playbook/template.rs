//! `h.template(src, dest, vars, opts)`: a Jinja2 template (minijinja) rendered on the
//! controller with the host's variables, then written like `file`. Undefined variables are
//! errors that name the template, the line and the expression.

use std::path::PathBuf;

use minijinja::{Environment, UndefinedBehavior, Value};
use rhai::Map;

use super::convert::to_json;
use crate::host::Host;

/// Finds a local file named in a playbook: beside the playbook, then in `SUBDIR/` there,
/// then relative to the current directory.
pub fn find_local(h: &Host, name: &str, subdirs: &[&str]) -> Result<PathBuf, String> {
    let base = &h.ctx.playbook_dir;
    let mut candidates = vec![base.join(name)];
    candidates.extend(subdirs.iter().map(|d| base.join(d).join(name)));
    candidates.extend(subdirs.iter().map(|d| PathBuf::from(d).join(name)));
    candidates.push(PathBuf::from(name));
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        format!(
            "{name} not found (looked in {})",
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// The template context: every variable of the host, `host` (name, addresses, groups) and
/// `inventory`, then the map given to the call.
fn context(host: &Host, vars: &Map) -> serde_json::Value {
    let mut ctx = host.state.vars.clone();
    let spec = &host.state.spec;
    ctx.insert(
        "host".into(),
        serde_json::json!({
            "name": spec.name, "address": spec.address,
            "private_ip": spec.private_ip.clone().unwrap_or_else(|| spec.address.clone()),
            "public_ip": spec.public_ip.clone().unwrap_or_else(|| spec.address.clone()),
            "groups": host.state.groups, "vars": host.state.vars,
        }),
    );
    ctx.insert("inventory".into(), serde_json::json!({"name": host.ctx.inventory_name}));
    for (k, v) in vars {
        ctx.insert(k.to_string(), to_json(v));
    }
    serde_json::Value::Object(ctx)
}

pub fn render(host: &Host, src: &str, vars: &Map) -> Result<String, String> {
    let (label, text) = source(host, src)?;
    render_text(&label, &text, context(host, vars))
}

/// The names a template reads from its context (`{{ port }}`, `{% if tls %}`), without the
/// ones it sets itself.
pub fn variables(host: &Host, src: &str) -> Result<std::collections::HashSet<String>, String> {
    let (label, text) = source(host, src)?;
    let mut env = environment();
    env.add_template(&label, &text)
        .map_err(|e| format!("template {label}: {e}"))?;
    let tmpl = env.get_template(&label).map_err(|e| format!("template {label}: {e}"))?;
    Ok(tmpl.undeclared_variables(false))
}

/// The template's label (for errors) and text: the playbook's own, else the stdlib's.
fn source(host: &Host, src: &str) -> Result<(String, String), String> {
    match find_local(host, src, &["templates"]) {
        Ok(path) => {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("template: cannot read {}: {e}", path.display()))?;
            Ok((crate::error::display_path(&path), text))
        }
        Err(e) => {
            // Not the playbook's own: one of the stdlib's (embedded, `stdlib/templates/`).
            let embedded = super::modules::STDLIB_TEMPLATES.iter().find(|(n, _)| *n == src);
            match embedded {
                Some((name, text)) => Ok((format!("stdlib/templates/{name}"), text.to_string())),
                None => Err(format!("template {e}, and the stdlib has no template of that name")),
            }
        }
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("default syntax is valid"),
    );
    env
}

pub fn render_text(label: &str, text: &str, ctx: serde_json::Value) -> Result<String, String> {
    let mut env = environment();
    let describe = |e: minijinja::Error| {
        let line = e.line().map(|l| format!(":{l}")).unwrap_or_default();
        let expr = e
            .range()
            .and_then(|r| text.get(r))
            .map(|s| format!(" in `{s}`"))
            .unwrap_or_default();
        let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
        format!("template {label}{line}: {}{detail}{expr}", e.kind())
    };
    env.add_template(label, text).map_err(describe)?;
    let tmpl = env.get_template(label).map_err(describe)?;
    tmpl.render(Value::from(minijinja::value::Serde(&ctx)))
        .map_err(describe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_variables_name_template_line_and_expression() {
        let ctx = serde_json::json!({"app": "ace"});
        let err = render_text(
            "site.conf.j2",
            "server {\n  name {{ app }};\n  root {{ docroot }};\n}\n",
            ctx,
        )
        .unwrap_err();
        assert!(err.starts_with("template site.conf.j2:3: undefined value"), "{err}");
        assert!(err.contains("`docroot`"), "{err}");
    }

    #[test]
    fn trailing_newlines_are_kept() {
        let out = render_text(
            "t",
            "{% for u in ups %}server {{ u }}:3000;\n{% endfor %}",
            serde_json::json!({"ups": ["a", "b"]}),
        );
        assert_eq!(out.unwrap(), "server a:3000;\nserver b:3000;\n");
    }
}
