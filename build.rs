//! Embeds every `stdlib/*.rhai` module into the binary, so `import "release"` works from
//! an installed runbook with no files beside it.

use std::fmt::Write;

fn main() {
    println!("cargo:rerun-if-changed=stdlib");
    let mut modules: Vec<(String, String)> = std::fs::read_dir("stdlib")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "rhai"))
                .map(|p| {
                    let name = p.file_stem().unwrap().to_string_lossy().into_owned();
                    (name.clone(), format!("stdlib/{name}.rhai"))
                })
                .collect()
        })
        .unwrap_or_default();
    modules.sort();
    let mut code = String::from(
        "/// Embedded standard library: (module name, source).\npub static STDLIB: &[(&str, &str)] = &[\n",
    );
    for (name, path) in modules {
        writeln!(code, "    ({name:?}, {}),", embed(&path)).unwrap();
    }
    code.push_str("];\n");
    // Templates the stdlib modules render (`stdlib/templates/NAME`): a playbook's own file of
    // the same name (beside it, or in its `templates/`) wins, so users can override them.
    let mut templates: Vec<(String, String)> = std::fs::read_dir("stdlib/templates")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .map(|p| {
                    let name = p.file_name().unwrap().to_string_lossy().into_owned();
                    (name.clone(), format!("stdlib/templates/{name}"))
                })
                .collect()
        })
        .unwrap_or_default();
    templates.sort();
    code.push_str(
        "/// Embedded stdlib templates: (file name, text).\npub static STDLIB_TEMPLATES: &[(&str, &str)] = &[\n",
    );
    for (name, path) in templates {
        writeln!(code, "    ({name:?}, {}),", embed(&path)).unwrap();
    }
    code.push_str("];\n");
    let out = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("stdlib.rs");
    std::fs::write(out, code).unwrap();
}

/// The file's text, found from the package's directory when the crate compiles (not from
/// where this script ran): a checkout moved or copied with its target directory still builds.
fn embed(relative: &str) -> String {
    format!("include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/{relative}\"))")
}
