//! Host operations as scripts call them (`h.file(path, #{ … })`): each binding checks the
//! options against the operation's declaration in `crate::builtins`, builds the typed
//! arguments, asks the planner in `crate::ops` for a plan and hands it to `ops::apply::apply`.
//! Everything local to the controller (finding `src` files, rendering templates, hashing an
//! upload) happens here, so planners only ever see the host through `facts::Look`.

use std::path::PathBuf;

use rhai::{Array, Dynamic, Engine, Map, NativeCallContext};

use super::call::{RhaiResult, fail, looking, notifier, on_host, on_host_op, op, queue_op};
use crate::host::Host;
use crate::ops::apply::apply;
use crate::ops::batch::Work;
use crate::ops::error::OpError;
use crate::ops::{archive, command, confirm, files, firewall, package, service, systemd, transfer, user};
use crate::playbook::convert::{self, Opts, to_dynamic};
use crate::playbook::handlers;
use crate::shell::Become;

/// The options of host operation `func`, checked against its declaration (`h.FUNC`).
pub fn options(func: &str, map: Map) -> Result<Opts<'_>, String> {
    Opts::declared(func, &format!("h.{func}"), map)
}

/// Who to run as, from `sudo: true` / `user: "nodejs"`.
pub fn become_of(opts: &Opts) -> Result<Become, String> {
    Ok(match (opts.string("user")?, opts.bool("sudo", false)?) {
        (Some(u), _) if u == "root" => Become::Root,
        (Some(u), _) => Become::User(u),
        (None, true) => Become::Root,
        (None, false) => Become::Me,
    })
}

fn attrs_of(opts: &Opts) -> Result<files::Attrs, String> {
    Ok(files::Attrs {
        owner: opts.string("owner")?,
        group: opts.string("group")?,
        mode: opts.mode("mode")?,
    })
}

/// `validate`, `reload`, `confirm` and `confirm_user` of a write.
fn safeguards_of(h: &Host, opts: &Opts) -> Result<files::Safeguards, String> {
    Ok(files::Safeguards {
        validate: opts.string("validate")?,
        reload: opts.string("reload")?,
        confirm: opts.confirm("confirm", confirm::CONFIRM_DEFAULT)?,
        confirm_user: opts.string("confirm_user")?,
        over_ssh: h.state.spec.connection == crate::inventory::ConnectionKind::Ssh,
    })
}

fn text(e: OpError) -> String {
    e.to_string()
}

pub use crate::playbook::queue::{outcome_map, result_map};

/// Applies what a planner decided; `#{ changed, diff }`.
fn carry_out(h: &Host, plan: Result<Option<crate::ops::plan::Plan>, OpError>) -> Result<Map, String> {
    let outcome = apply(h, plan.map_err(text)?).map_err(text)?;
    Ok(outcome_map(&outcome))
}

fn file(h: &Host, path: &str, o: Map) -> Result<Work, String> {
    let opts = options("file", o)?;
    let content = match (opts.string("content")?, opts.string("src")?) {
        (Some(c), None) => c.into_bytes(),
        (None, Some(src)) => {
            let p = crate::playbook::template::find_local(h, &src, &["files"]).map_err(|e| format!("file: {e}"))?;
            std::fs::read(&p).map_err(|e| format!("file: cannot read {}: {e}", p.display()))?
        }
        (Some(_), Some(_)) => return Err("file: give either `content` or `src`, not both".into()),
        (None, None) => return Err("file: give the file's `content` or a local `src`".into()),
    };
    let args = files::Content {
        path: path.into(),
        content,
        attrs: attrs_of(&opts)?,
        safeguards: safeguards_of(h, &opts)?,
        who: become_of(&opts)?,
    };
    Ok(Work::Op(Box::new(move |l| files::content(l, "file", &args))))
}

fn template(h: &Host, src: &str, dest: &str, vars: &Map, o: Map) -> Result<Work, String> {
    let opts = options("template", o)?;
    let text = crate::playbook::template::render(h, src, vars).map_err(|e| format!("{}: {e}", h.name()))?;
    let args = files::Content {
        path: dest.into(),
        content: text.into_bytes(),
        attrs: attrs_of(&opts)?,
        safeguards: safeguards_of(h, &opts)?,
        who: become_of(&opts)?,
    };
    Ok(Work::Op(Box::new(move |l| files::content(l, "template", &args))))
}

/// `h.template(src, dest, #{ notify: … })` reads as options but the third argument is the
/// template's variables: an option's name there that the template does not use would be
/// dropped without a word, so it is refused, saying where options go.
fn options_among_vars(h: &Host, src: &str, vars: &Map) -> Result<(), String> {
    let Some(decl) = crate::builtins::find(crate::builtins::Receiver::Host, "template") else {
        return Ok(());
    };
    let option = |k: &str| k == crate::builtins::NOTIFY.name || decl.options.iter().any(|o| o.name == k);
    let suspect: Vec<&str> = vars.keys().map(|k| k.as_str()).filter(|k| option(k)).collect();
    if suspect.is_empty() {
        return Ok(());
    }
    let used = crate::playbook::template::variables(h, src)?;
    let unused: Vec<&str> = suspect.into_iter().filter(|k| !used.contains(*k)).collect();
    match unused.as_slice() {
        [] => Ok(()),
        names => Err(format!(
            "h.template({src:?}, …, vars): the third argument is the template's variables, and {src} does not use {}, which {} h.template's option{}: give options as a fourth argument, h.template(src, dest, vars, #{{ {}: … }}) (#{{}} for no variables)",
            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
            if names.len() == 1 { "is" } else { "are" },
            if names.len() == 1 { "" } else { "s" },
            names[0],
        )),
    }
}

fn line(h: &Host, path: &str, line: &str, o: Map) -> Result<Work, String> {
    let opts = options("line", o)?;
    let args = files::Line {
        path: path.into(),
        line: line.into(),
        regex: opts.string("regex")?,
        state: files::Presence::parse("line", opts.string("state")?.as_deref()).map_err(text)?,
        attrs: attrs_of(&opts)?,
        safeguards: safeguards_of(h, &opts)?,
        who: become_of(&opts)?,
    };
    Ok(Work::Op(Box::new(move |l| files::line(l, &args))))
}

fn dir(_h: &Host, path: &str, o: Map) -> Result<Work, String> {
    let opts = options("dir", o)?;
    let args = files::Dir {
        path: path.into(),
        attrs: attrs_of(&opts)?,
        who: become_of(&opts)?,
    };
    Ok(Work::Op(Box::new(move |l| files::dir(l, &args))))
}

fn symlink(_h: &Host, target: &str, link: &str, o: Map) -> Result<Work, String> {
    let opts = options("symlink", o)?;
    let args = files::Symlink {
        target: target.into(),
        link: link.into(),
        owner: opts.string("owner")?,
        group: opts.string("group")?,
        who: become_of(&opts)?,
    };
    Ok(Work::Op(Box::new(move |l| files::symlink(l, &args))))
}

fn absent(_h: &Host, path: &str, o: Map) -> Result<Work, String> {
    let opts = options("absent", o)?;
    let args = files::Absent {
        path: path.into(),
        who: become_of(&opts)?,
    };
    Ok(Work::Op(Box::new(move |l| files::absent(l, &args))))
}

fn read(h: &Host, path: &str, o: Map) -> Result<Dynamic, String> {
    let opts = Opts::declared("read", "h.read", o)?;
    Ok(match files::read(h, path, &become_of(&opts)?).map_err(text)? {
        files::Read::Missing => Dynamic::UNIT,
        files::Read::Text(t) => t.into(),
        files::Read::Pending => Dynamic::from(crate::pending::Pending),
    })
}

fn apt(h: &Host, packages: &Dynamic, o: Map) -> Result<Map, String> {
    let opts = options("apt", o)?;
    let args = package::Apt {
        packages: string_list(packages)?,
        state: files::Presence::parse("apt", opts.string("state")?.as_deref()).map_err(text)?,
        update: opts.bool("update", false)?,
        cache_valid: opts
            .duration("cache_valid")?
            .unwrap_or(std::time::Duration::from_secs(3600)),
        who: become_of(&opts)?,
    };
    carry_out(h, package::apt(h, &args))
}

/// `h.service(name, state, opts)`, or `h.service(name, #{ enabled })` (no state: `None`).
fn service(h: &Host, name: &str, state: Option<&str>, o: Map) -> Result<Map, String> {
    let opts = options("service", o)?;
    let args = service::Service {
        name: name.into(),
        state: state
            .map(|s| service::State::parse("service", s))
            .transpose()
            .map_err(text)?,
        enabled: opts.opt_bool("enabled")?,
        who: become_of(&opts)?,
    };
    carry_out(h, service::service(h, &args))
}

/// The unit's text: `content`, a local `src` file, or a `template` rendered with `vars`.
fn systemd_unit(h: &Host, name: &str, o: Map) -> Result<Map, String> {
    let opts = options("systemd_unit", o)?;
    let vars = match opts.raw("vars") {
        None => Map::new(),
        Some(v) => v
            .try_cast::<Map>()
            .ok_or("systemd_unit: option `vars` must be a map (the template's variables)")?,
    };
    let content = match (opts.string("content")?, opts.string("src")?, opts.string("template")?) {
        (Some(c), None, None) => c.into_bytes(),
        (None, Some(src), None) => {
            let p =
                crate::playbook::template::find_local(h, &src, &["files"]).map_err(|e| format!("systemd_unit: {e}"))?;
            std::fs::read(&p).map_err(|e| format!("systemd_unit: cannot read {}: {e}", p.display()))?
        }
        (None, None, Some(t)) => crate::playbook::template::render(h, &t, &vars)
            .map_err(|e| format!("{}: {e}", h.name()))?
            .into_bytes(),
        (None, None, None) => {
            return Err("systemd_unit: give the unit's `content`, a local `src` file or a `template`".into());
        }
        _ => return Err("systemd_unit: give one of `content`, `src` and `template`, not several".into()),
    };
    if !vars.is_empty() && opts.raw("template").is_none() {
        return Err("systemd_unit: `vars` are a template's variables: give a `template` too".into());
    }
    let args = systemd::Unit {
        name: name.into(),
        content,
        drop_in: opts.string("drop_in")?,
        enabled: opts.opt_bool("enabled")?,
        state: opts
            .string("state")?
            .map(|s| service::State::parse("systemd_unit", &s))
            .transpose()
            .map_err(text)?,
        who: become_of(&opts)?,
    };
    carry_out(h, systemd::unit(h, &args))
}

fn user(h: &Host, name: &str, o: Map) -> Result<Map, String> {
    let opts = options("user", o)?;
    let args = user::User {
        name: name.into(),
        home: opts.string("home")?,
        shell: opts.string("shell")?,
        groups: opts.raw("groups").map(|_| opts.string_list("groups")).transpose()?,
        append: opts.bool("append", false)?,
        system: opts.bool("system", false)?,
        uid: opts.int("uid")?,
        create_home: opts.opt_bool("create_home")?,
        who: become_of(&opts)?,
    };
    carry_out(h, user::user(h, &args))
}

fn ufw(h: &Host, o: Map) -> Result<Map, String> {
    let opts = options("ufw", o)?;
    let policy = |key: &str| -> Result<Option<firewall::Policy>, String> {
        opts.string(key)?
            .map(|p| firewall::Policy::parse(key, &p).map_err(text))
            .transpose()
    };
    let rules = match opts.raw("rules") {
        None => vec![],
        Some(r) => r
            .read_lock::<Array>()
            .ok_or("ufw: `rules` must be an array")?
            .iter()
            .map(rule_of)
            .collect::<Result<_, _>>()?,
    };
    let spec = &h.state.spec;
    let args = firewall::Ufw {
        incoming: policy("incoming")?,
        outgoing: policy("outgoing")?,
        rules,
        enabled: opts.opt_bool("enabled")?,
        exact: opts.bool("exact", false)?,
        // Absent: the default; `false` or 0: no safety net.
        confirm: match opts.raw("confirm") {
            None => confirm::CONFIRM_DEFAULT,
            Some(_) => opts.confirm("confirm", confirm::CONFIRM_DEFAULT)?.unwrap_or_default(),
        },
        ssh_port: spec.port.unwrap_or(22),
        over_ssh: spec.connection == crate::inventory::ConnectionKind::Ssh,
        who: become_of(&opts)?,
    };
    carry_out(h, firewall::ufw(h, &args))
}

/// `#{ port: 22, proto: "tcp", from: "10.0.0.5", action: "allow" }`.
fn rule_of(d: &Dynamic) -> Result<firewall::Rule, String> {
    let map = d
        .read_lock::<Map>()
        .ok_or("ufw: each rule must be a map like #{ port: 22, proto: \"tcp\" }")?
        .clone();
    let o = Opts::new("ufw rule", map, &["port", "proto", "from", "action"])?;
    Ok(firewall::Rule {
        action: o.string("action")?.unwrap_or_else(|| "allow".into()),
        port: o.raw("port").map(|p| port_of(&p)).transpose()?,
        proto: o.string("proto")?,
        from: o.string("from")?.filter(|f| f != "any"),
    })
}

/// A rule's port as ufw writes it: a number (`22`, or `"22"` from a `--var`), a range
/// (`"6000:6007"`) or a service name (`"ssh"`); anything else is an error.
fn port_of(v: &Dynamic) -> Result<String, String> {
    let wrong = || {
        format!(
            "ufw rule: option `port` must be a port number (22 or \"22\"), a range like \"6000:6007\" or a service name, not {}",
            convert::describe(v)
        )
    };
    let number = |n: i64| {
        u16::try_from(n)
            .ok()
            .filter(|p| *p > 0)
            .map(|p| p.to_string())
            .ok_or_else(|| format!("ufw rule: option `port` {n} is out of range (1-65535)"))
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Ok(n) = v.as_int() {
        return number(n);
    }
    if !v.is_string() {
        return Err(wrong());
    }
    let s = v.to_string();
    if digits(&s) {
        return number(s.parse().map_err(|_| wrong())?);
    }
    if let Some((a, b)) = s.split_once(':').filter(|(a, b)| digits(a) && digits(b)) {
        let (a, b) = (
            number(a.parse().map_err(|_| wrong())?)?,
            number(b.parse().map_err(|_| wrong())?)?,
        );
        return Ok(format!("{a}:{b}"));
    }
    let service = s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if service { Ok(s) } else { Err(wrong()) }
}

fn upload(h: &Host, local: &Dynamic, remote: &str, o: Map) -> Result<Map, String> {
    let path = local_path(local)?;
    let opts = Opts::declared("upload", "h.upload", o)?;
    let sha256 = transfer::local_sha256(&path).map_err(|e| format!("upload: {e}"))?;
    let args = transfer::Upload {
        size: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
        local: path,
        sha256: sha256.clone(),
        remote: remote.into(),
        mode: opts.mode("mode")?,
        owner: opts.string("owner")?,
        group: opts.string("group")?,
        safeguards: safeguards_of(h, &opts)?,
        who: become_of(&opts)?,
    };
    let mut m = carry_out(h, transfer::upload(h, &args))?;
    m.remove("diff");
    m.insert("sha256".into(), sha256.into());
    m.insert("path".into(), remote.into());
    Ok(m)
}

/// A path string, or a map with `path` (what `local::pack` returns). Relative paths are
/// relative to the directory runbook runs in.
fn local_path(local: &Dynamic) -> Result<PathBuf, String> {
    let p = if local.is_string() {
        local.to_string()
    } else if let Some(m) = local.read_lock::<Map>() {
        m.get("path")
            .map(|p| p.to_string())
            .ok_or("upload: the map has no `path`")?
    } else {
        return Err(format!(
            "upload: the local file must be a path or a packed tarball, not {}",
            local.type_name()
        ));
    };
    let path = PathBuf::from(&p);
    if !path.is_file() {
        return Err(format!("upload: local file {p} does not exist"));
    }
    Ok(path)
}

fn unpack(h: &Host, archive: &Dynamic, dest: &str, o: Map) -> Result<Map, String> {
    let (archive, sha256) = archive_of(archive)?;
    let opts = Opts::declared("unpack", "h.unpack", o)?;
    let args = archive::Unpack {
        archive,
        sha256,
        dest: dest.into(),
        owner: opts.string("owner")?,
        group: opts.string("group")?,
        who: become_of(&opts)?,
    };
    let unpacked = archive::unpack(h, &args).map_err(text)?;
    let outcome = apply(h, unpacked.plan).map_err(text)?;
    let mut m = Map::new();
    m.insert("changed".into(), outcome.changed.into());
    m.insert("path".into(), dest.trim_end_matches('/').into());
    m.insert("sha256".into(), unpacked.sha256.unwrap_or_default().into());
    Ok(m)
}

/// A remote path, or a map with `path` (what `h.upload` returns, with its `sha256`).
fn archive_of(archive: &Dynamic) -> Result<(String, Option<String>), String> {
    if archive.is_string() {
        return Ok((archive.to_string(), None));
    }
    let Some(m) = archive.read_lock::<Map>() else {
        return Err(format!(
            "unpack: the archive must be a path on the host or what h.upload returned, not {}",
            archive.type_name()
        ));
    };
    let path = m
        .get("path")
        .map(|p| p.to_string())
        .ok_or("unpack: the map has no `path`")?;
    let sha = m.get("sha256").map(|s| s.to_string()).filter(|s| archive::is_sha256(s));
    Ok((path, sha))
}

/// Turns `cmd` into shell text: a string is used as written, an array is quoted word by word.
pub fn script_of(cmd: &Dynamic) -> Result<String, String> {
    if cmd.is_string() {
        return Ok(cmd.to_string());
    }
    match cmd.read_lock::<Array>() {
        Some(argv) if !argv.is_empty() => {
            let words = convert::strings(&argv).map_err(|e| format!("run: the command's words: {e}"))?;
            Ok(crate::shell::join(&words))
        }
        Some(_) => Err("run: the command is an empty array".into()),
        None => Err(format!(
            "run: the command must be a string or an array of words, not {}",
            cmd.type_name()
        )),
    }
}

/// The command `cmd` with the `env`, `cwd`, `stdin`, `timeout`, `sudo`/`user` options.
pub fn request(cmd: &Dynamic, opts: &Opts) -> Result<crate::connection::ExecRequest, String> {
    Ok(crate::connection::ExecRequest {
        script: script_of(cmd)?,
        env: opts.string_map("env")?,
        cwd: opts.string("cwd")?,
        stdin: opts.string("stdin")?.map(String::into_bytes),
        timeout: opts.duration("timeout")?,
        become_: become_of(opts)?,
        stdin_script: false,
    })
}

fn run(_h: &Host, cmd: &Dynamic, o: Map) -> Result<Work, String> {
    let opts = Opts::declared("run", "h.run", o)?;
    Ok(Work::Run(command::Command {
        req: request(cmd, &opts)?,
        check: opts.bool("check", true)?,
        readonly: opts.bool("readonly", false)?,
        changed: opts.bool("changed", true)?,
    }))
}

/// A package list: an array of names or one name.
fn string_list(d: &Dynamic) -> Result<Vec<String>, String> {
    if d.is_string() {
        return Ok(vec![d.to_string()]);
    }
    match d.read_lock::<Array>() {
        Some(a) => convert::strings(&a).map_err(|e| format!("apt: the packages: {e}")),
        None => Err(format!("apt: expected a list of package names, not {}", d.type_name())),
    }
}

fn read_fact(h: &Host, name: &str, arg: Option<&str>, opts: Map) -> Result<Dynamic, String> {
    let key = crate::facts::key_for(name, arg)?;
    let opts = Opts::declared("fact", "h.fact", opts)?;
    let who = become_of(&opts)?;
    let fact = h.read_fact(key, &who).map_err(|e| e.to_string())?;
    let mut value = rhai::serde::to_dynamic(&fact).map_err(|e| e.to_string())?;
    // A file a dry run edits once a planned package brings it: its checksum and size are
    // known only after apply.
    if let crate::facts::Fact::File(f) = &fact
        && f.content_unknown
        && let Some(mut m) = value.write_lock::<Map>()
    {
        for k in ["sha256", "size"] {
            m.insert(k.into(), Dynamic::from(crate::pending::Pending));
        }
    }
    Ok(value)
}

/// Registers `name` twice: with and without the trailing options map (which may hold
/// `notify`: see `call::on_host_op`).
macro_rules! with_opts {
    ($engine:expr, $name:literal, |$h:ident $(, $arg:ident : $ty:ty)*| $call:expr) => {{
        $engine.register_fn($name, |ctx: NativeCallContext, $h: &mut Host $(, $arg: $ty)*| -> RhaiResult<Map> {
            #[allow(unused_variables)]
            let opts = Map::new();
            on_host(&ctx, $h, || $call(opts))
        });
        $engine.register_fn($name, |ctx: NativeCallContext, $h: &mut Host $(, $arg: $ty)*, opts: Map| -> RhaiResult<Map> {
            on_host_op(&ctx, $h, opts, |opts| $call(opts))
        });
    }};
}

/// Registers queued operation `name` twice, as `with_opts!` does: it returns a result
/// known once the step's queue ran (`playbook::queue`).
macro_rules! queued {
    ($engine:expr, $name:literal, |$h:ident $(, $arg:ident : $ty:ty)*| $call:expr) => {{
        $engine.register_fn($name, |ctx: NativeCallContext, $h: &mut Host $(, $arg: $ty)*| -> RhaiResult<Dynamic> {
            queue_op(&ctx, $h, Map::new(), |opts| $call(opts))
        });
        $engine.register_fn($name, |ctx: NativeCallContext, $h: &mut Host $(, $arg: $ty)*, opts: Map| -> RhaiResult<Dynamic> {
            queue_op(&ctx, $h, opts, |opts| $call(opts))
        });
    }};
}

/// The `Host` type and its operations (declared in `crate::builtins`).
pub fn register(engine: &mut Engine) {
    register_type(engine);
    queued!(engine, "run", |h, cmd: Dynamic| |o| run(h, &cmd, o));
    with_opts!(engine, "upload", |h, local: Dynamic, remote: &str| |o| upload(
        h, &local, remote, o
    ));
    with_opts!(engine, "unpack", |h, archive: Dynamic, dest: &str| |o| unpack(
        h, &archive, dest, o
    ));
    queued!(engine, "file", |h, path: &str| |o| file(h, path, o));
    queued!(engine, "line", |h, path: &str, text: &str| |o| line(h, path, text, o));
    queued!(engine, "dir", |h, path: &str| |o| dir(h, path, o));
    queued!(engine, "symlink", |h, target: &str, link: &str| |o| symlink(
        h, target, link, o
    ));
    queued!(engine, "absent", |h, path: &str| |o| absent(h, path, o));
    with_opts!(engine, "user", |h, name: &str| |o| user(h, name, o));
    with_opts!(engine, "service", |h, name: &str, state: &str| |o| service(
        h,
        name,
        Some(state),
        o
    ));
    engine.register_fn(
        "service",
        |ctx: NativeCallContext, h: &mut Host, name: &str, opts: Map| -> RhaiResult<Map> {
            on_host(&ctx, h, || service(h, name, None, opts))
        },
    );
    with_opts!(engine, "systemd_unit", |h, name: &str| |o| systemd_unit(h, name, o));
    engine.register_fn(
        "ufw",
        |ctx: NativeCallContext, h: &mut Host, opts: Map| -> RhaiResult<Map> {
            on_host_op(&ctx, h, opts, |opts| ufw(h, opts))
        },
    );
    // `h.notify(name)`: a notification of the script's own (a condition, a module function).
    engine.register_fn(
        "notify",
        |ctx: NativeCallContext, h: &mut Host, names: Dynamic| -> RhaiResult<()> {
            let names = op(&ctx, handlers::names_of(&names, "h.notify: the handlers"))?;
            on_host(&ctx, h, || handlers::notify(&names, &notifier(&ctx)))
        },
    );
    with_opts!(engine, "apt", |h, packages: Dynamic| |o| apt(h, &packages, o));
    engine.register_fn(
        "template",
        |ctx: NativeCallContext, h: &mut Host, src: &str, dest: &str| -> RhaiResult<Dynamic> {
            queue_op(&ctx, h, Map::new(), |o| template(h, src, dest, &Map::new(), o))
        },
    );
    engine.register_fn(
        "template",
        |ctx: NativeCallContext, h: &mut Host, src: &str, dest: &str, vars: Map| -> RhaiResult<Dynamic> {
            queue_op(&ctx, h, Map::new(), |o| {
                options_among_vars(h, src, &vars)?;
                template(h, src, dest, &vars, o)
            })
        },
    );
    engine.register_fn(
        "template",
        |ctx: NativeCallContext, h: &mut Host, src: &str, dest: &str, vars: Map, opts: Map| -> RhaiResult<Dynamic> {
            queue_op(&ctx, h, opts, |o| template(h, src, dest, &vars, o))
        },
    );
    engine.register_fn(
        "read",
        |ctx: NativeCallContext, h: &mut Host, path: &str| -> RhaiResult<Dynamic> {
            looking(&ctx, h, || read(h, path, Map::new()))
        },
    );
    engine.register_fn(
        "read",
        |ctx: NativeCallContext, h: &mut Host, path: &str, opts: Map| -> RhaiResult<Dynamic> {
            looking(&ctx, h, || read(h, path, opts))
        },
    );
    engine.register_fn(
        "fact",
        |ctx: NativeCallContext, h: &mut Host, name: &str| -> RhaiResult<Dynamic> {
            looking(&ctx, h, || read_fact(h, name, None, Map::new()))
        },
    );
    engine.register_fn(
        "fact",
        |ctx: NativeCallContext, h: &mut Host, name: &str, arg: &str| -> RhaiResult<Dynamic> {
            looking(&ctx, h, || read_fact(h, name, Some(arg), Map::new()))
        },
    );
    // `#{ sudo: true }` / `#{ user }`: look as another user (a path under a root-only dir).
    engine.register_fn(
        "fact",
        |ctx: NativeCallContext, h: &mut Host, name: &str, arg: &str, opts: Map| -> RhaiResult<Dynamic> {
            looking(&ctx, h, || read_fact(h, name, Some(arg), opts))
        },
    );
}

/// An address of a host (the connect address when it has no other); `Pending` for a host
/// a dry run would create.
fn address(h: &Host, ip: Option<String>) -> Dynamic {
    if h.state.spec.pending {
        return Dynamic::from(crate::pending::Pending);
    }
    ip.unwrap_or_else(|| h.state.spec.address.clone()).into()
}

/// The `Host` type: its properties and variables.
fn register_type(engine: &mut Engine) {
    engine
        .register_type_with_name::<Host>("Host")
        .register_get("name", |h: &mut Host| h.name().to_string())
        .register_get("address", |h: &mut Host| address(h, None))
        .register_get("private_ip", |h: &mut Host| address(h, h.state.spec.private_ip.clone()))
        .register_get("public_ip", |h: &mut Host| address(h, h.state.spec.public_ip.clone()))
        .register_get("groups", |h: &mut Host| -> Array {
            h.state.groups.iter().map(|g| g.into()).collect()
        })
        .register_get("vars", |h: &mut Host| convert::vars_to_map(&h.state.vars))
        .register_fn("to_string", |h: &mut Host| h.name().to_string())
        .register_fn("to_debug", |h: &mut Host| format!("Host({})", h.name()))
        .register_fn("==", |a: Host, b: Host| a.name() == b.name())
        .register_fn("!=", |a: Host, b: Host| a.name() != b.name());

    engine.register_fn(
        "var",
        |ctx: NativeCallContext, h: &mut Host, name: &str| -> RhaiResult<Dynamic> { host_var(&ctx, h, name) },
    );
    engine.register_fn("var", |h: &mut Host, name: &str, default: Dynamic| -> Dynamic {
        h.state.vars.get(name).map(to_dynamic).unwrap_or(default)
    });
    engine.register_fn(
        "var_int",
        |ctx: NativeCallContext, h: &mut Host, name: &str| -> RhaiResult<i64> {
            let v = host_var(&ctx, h, name)?;
            op(&ctx, convert::to_int(&v, &format!("variable `{name}` of {}", h.name())))
        },
    );
    engine.register_fn(
        "var_int",
        |ctx: NativeCallContext, h: &mut Host, name: &str, default: Dynamic| -> RhaiResult<i64> {
            let v = h.state.vars.get(name).map(to_dynamic).unwrap_or(default);
            op(&ctx, convert::to_int(&v, &format!("variable `{name}` of {}", h.name())))
        },
    );
    engine.register_fn(
        "var_bool",
        |ctx: NativeCallContext, h: &mut Host, name: &str| -> RhaiResult<bool> {
            let v = host_var(&ctx, h, name)?;
            op(
                &ctx,
                convert::to_bool(&v, &format!("variable `{name}` of {}", h.name())),
            )
        },
    );
    engine.register_fn(
        "var_bool",
        |ctx: NativeCallContext, h: &mut Host, name: &str, default: Dynamic| -> RhaiResult<bool> {
            let v = h.state.vars.get(name).map(to_dynamic).unwrap_or(default);
            op(
                &ctx,
                convert::to_bool(&v, &format!("variable `{name}` of {}", h.name())),
            )
        },
    );
}

fn host_var(ctx: &NativeCallContext, h: &Host, name: &str) -> RhaiResult<Dynamic> {
    match h.state.vars.get(name) {
        Some(v) => Ok(to_dynamic(v)),
        None => fail(
            ctx,
            format!(
                "variable `{name}` is not defined for host {} (nor in its groups or [vars])",
                h.name()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_numbers_numeric_text_ranges_or_service_names() {
        let ok: &[(Dynamic, &str)] = &[
            (Dynamic::from(22_i64), "22"),
            (Dynamic::from("22"), "22"),
            (Dynamic::from("022"), "22"),
            (Dynamic::from("6000:6007"), "6000:6007"),
            (Dynamic::from("ssh"), "ssh"),
        ];
        for (v, want) in ok {
            assert_eq!(port_of(v).as_deref(), Ok(*want), "{v:?}");
        }
        let err: &[(Dynamic, &str)] = &[
            (
                Dynamic::from(0_i64),
                "ufw rule: option `port` 0 is out of range (1-65535)",
            ),
            (
                Dynamic::from("70000"),
                "ufw rule: option `port` 70000 is out of range (1-65535)",
            ),
            (
                Dynamic::from("22.5"),
                "ufw rule: option `port` must be a port number (22 or \"22\"), a range like \"6000:6007\" or a service name, not \"22.5\"",
            ),
            (
                Dynamic::from(22.0_f64),
                "ufw rule: option `port` must be a port number (22 or \"22\"), a range like \"6000:6007\" or a service name, not 22.0",
            ),
            (
                Dynamic::from(true),
                "ufw rule: option `port` must be a port number (22 or \"22\"), a range like \"6000:6007\" or a service name, not true",
            ),
        ];
        for (v, want) in err {
            assert_eq!(port_of(v).unwrap_err(), *want, "{v:?}");
        }
    }
}
