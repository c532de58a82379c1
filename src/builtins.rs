//! The playbook API declared once, as data: every built-in function and host method with
//! its arguments, options, returned fields, dry-run behaviour and an example. Option
//! checking at call time, `runbook check`, `runbook doc` and `docs/reference.md` all read
//! this table, so what a user is told and what runbook accepts cannot drift apart.

/// Where a built-in is called from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receiver {
    /// `step(…)`, `hosts(…)`
    Global,
    /// `h.file(…)`
    Host,
    /// `cloud::droplet(…)`
    Module(&'static str),
}

/// The type of an option, also what `runbook check` compares a literal against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Str,
    Int,
    Bool,
    /// `"90s"`, `"5m"` or seconds.
    Duration,
    /// `true` (a default duration), `false`, or a duration.
    Confirm,
    /// `"0644"`: a string, never an integer.
    Mode,
    List,
    Map,
    /// A string or a list of strings.
    StrOrList,
    /// A count of hosts (`2`) or a share of them (`"25%"`).
    Limit,
    Any,
}

impl Ty {
    pub fn name(self) -> &'static str {
        match self {
            Ty::Str => "string",
            Ty::Int => "integer",
            Ty::Bool => "bool",
            Ty::Duration => "duration (\"30s\", \"5m\" or seconds)",
            Ty::Confirm => "true, false or a duration (\"30s\")",
            Ty::Mode => "mode string (\"0644\")",
            Ty::List => "list",
            Ty::Map => "map",
            Ty::StrOrList => "string or list of strings",
            Ty::Limit => "count or percentage (2 or \"25%\")",
            Ty::Any => "any",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Arg {
    pub name: &'static str,
    pub ty: &'static str,
    pub doc: &'static str,
    pub optional: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Opt {
    pub name: &'static str,
    pub ty: Ty,
    pub default: &'static str,
    pub doc: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: &'static str,
    pub doc: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    pub name: &'static str,
    pub receiver: Receiver,
    /// Positional arguments, in order (optional ones may be left out).
    pub args: &'static [Arg],
    /// Options, given as a map after the positional arguments.
    pub options: &'static [Opt],
    pub returns: &'static str,
    pub fields: &'static [Field],
    pub doc: &'static str,
    pub dry_run: &'static str,
    pub example: &'static str,
}

impl Builtin {
    /// How users write it: `h.file`, `cloud::droplet`, `step`.
    pub fn qualified(&self) -> String {
        match self.receiver {
            Receiver::Global => self.name.to_string(),
            Receiver::Host => format!("h.{}", self.name),
            Receiver::Module(m) => format!("{m}::{}", self.name),
        }
    }

    pub fn option(&self, name: &str) -> Option<&Opt> {
        self.options
            .iter()
            .find(|o| o.name == name)
            .or_else(|| (self.notifies() && name == NOTIFY.name).then_some(&NOTIFY))
    }

    /// Its declared options, and `notify` when it takes that (see [`Builtin::notifies`]).
    pub fn option_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.options.iter().map(|o| o.name).collect();
        if self.notifies() {
            names.push(NOTIFY.name);
        }
        names
    }

    /// Whether it takes `notify`: every host operation that reports `changed` does, declared
    /// once here rather than in each operation's options, so an operation added later gets it.
    pub fn notifies(&self) -> bool {
        self.receiver == Receiver::Host && self.fields.iter().any(|f| f.name == "changed")
    }

    pub fn signature(&self) -> String {
        let mut parts: Vec<String> = self
            .args
            .iter()
            .map(|a| match a.optional {
                false => a.name.to_string(),
                true => format!("[{}]", a.name),
            })
            .collect();
        // The options map goes after the positional arguments, except for `step`, whose
        // closure comes last.
        if !self.option_names().is_empty() {
            let at = if self.name == "step" {
                parts.len() - 1
            } else {
                parts.len()
            };
            // A droplet's options are its spec, and the spec is required.
            let map = if self.name == "droplet" {
                "#{ spec }"
            } else {
                "[#{ options }]"
            };
            parts.insert(at, map.into());
        }
        format!("{}({})", self.qualified(), parts.join(", "))
    }
}

const fn arg(name: &'static str, ty: &'static str, doc: &'static str) -> Arg {
    Arg {
        name,
        ty,
        doc,
        optional: false,
    }
}

/// An argument that may be left out.
const fn maybe(name: &'static str, ty: &'static str, doc: &'static str) -> Arg {
    Arg {
        name,
        ty,
        doc,
        optional: true,
    }
}

const fn opt(name: &'static str, ty: Ty, default: &'static str, doc: &'static str) -> Opt {
    Opt { name, ty, default, doc }
}

const fn field(name: &'static str, ty: &'static str, doc: &'static str) -> Field {
    Field { name, ty, doc }
}

const SUDO: Opt = opt("sudo", Ty::Bool, "false", "run as root through `sudo -n`");
const USER: Opt = opt(
    "user",
    Ty::Str,
    "the login user",
    "run as this user (`sudo -n -u USER`)",
);
const OWNER: Opt = opt("owner", Ty::Str, "unchanged (new: the login user)", "owning user");
const GROUP: Opt = opt("group", Ty::Str, "unchanged (new: the user's group)", "owning group");
const MODE: Opt = opt(
    "mode",
    Ty::Mode,
    "unchanged (new files 0644, dirs 0755)",
    "permissions, a string: \"0644\", \"644\"",
);

/// The option every operation that reports `changed` takes (`Builtin::notifies`); the
/// reference documents it once, under `step`'s `handlers`.
pub static NOTIFY: Opt = opt(
    "notify",
    Ty::StrOrList,
    "none",
    "a handler's name, or a list of them: handlers of the step to run once on this host at its end if this operation changed something (see [Handlers](#handlers))",
);
const VALIDATE: Opt = opt(
    "validate",
    Ty::Str,
    "none",
    "a command that must accept the new content before it replaces the file, e.g. \"nginx -t -c %s\": `%s` is the content's temporary file (beside the target, with its final owner and mode, shell-quoted), `%%` a literal %. Run only when the content changes; when it fails nothing changes, the temporary file is removed and the error shows the command and its output",
);
const RELOAD: Opt = opt(
    "reload",
    Ty::Str,
    "none",
    "a command that makes the change take effect, e.g. \"systemctl reload ssh\": run after the file changed. If it fails, the previous file is put back and the command run again, and the operation fails (so the next run tries again). The previous file is kept in /var/lib/runbook meanwhile: needs root (`sudo: true` unless runbook logs in as root)",
);
const CONFIRM: Opt = opt(
    "confirm",
    Ty::Confirm,
    "false",
    "commit-confirmed, for a file that could lock runbook out (sshd_config): the host saves the previous file and schedules its own restore (and `reload`) after this long (`true`: 60s); runbook then opens a NEW SSH connection and cancels the restore only when it works. A change that locks SSH out is put back and the operation fails saying so. Needs root (`sudo: true` unless runbook logs in as root); ignored on `connection = \"local\"`",
);
const CONFIRM_USER: Opt = opt(
    "confirm_user",
    Ty::Str,
    "runbook's login user",
    "whose new SSH login confirms the change (same address, port and key), e.g. the admin that will log in once root may not",
);
const WRITE_DRY_RUN: &str = "planned with a unified diff and the summary's `validated by`, `then` (reload) and `kept only if a new SSH login works`; `validate` is not run (the new content is not on the host, and the command may need what earlier planned changes bring)";

/// `wait::http` and `h.wait_http`: the same options.
const HTTP_WAIT_OPTIONS: &[Opt] = &[
    opt("status", Ty::Int, "any 2xx", "the status to wait for"),
    opt("contains", Ty::Str, "none", "text the body must contain"),
    opt("timeout", Ty::Duration, "\"60s\"", ""),
    opt("every", Ty::Duration, "\"2s\"", "the cap of the exponential back-off"),
    opt("insecure", Ty::Bool, "false", "accept any TLS certificate"),
];

/// What every idempotent operation returns.
const OP_RESULT: &[Field] = &[
    field("changed", "bool", "whether it changed something (in a dry run: would)"),
    field("diff", "string", "a unified diff of a file's content, or \"\""),
];

const RUN_RESULT: &[Field] = &[
    field(
        "stdout",
        "string",
        "standard output (\"\" when not executed in a dry run)",
    ),
    field("stderr", "string", "standard error"),
    field("code", "integer", "the exit code"),
    field("changed", "bool", "whether it counts as a change"),
];

const DROPLET: &[Field] = &[
    field(
        "id",
        "integer or string",
        "the provider's id; `(known after apply)` in a dry run",
    ),
    field("name", "string", ""),
    field("status", "string", "`new`, `active`, `off`, …"),
    field("tags", "list of strings", ""),
    field("public_ip", "string", "`(known after apply)` in a dry run"),
    field("private_ip", "string", "`(known after apply)` in a dry run"),
    field("image", "string", ""),
    field("region", "string", ""),
    field("size", "string", ""),
];

const RUN_OPTIONS: &[Opt] = &[
    opt("check", Ty::Bool, "true", "fail the step when the exit code is not 0"),
    opt(
        "readonly",
        Ty::Bool,
        "false",
        "the command only reads: it runs in a dry run too and is never a change",
    ),
    opt(
        "changed",
        Ty::Bool,
        "true",
        "count the command as a change when it runs",
    ),
    opt("env", Ty::Map, "#{}", "environment variables (values: text or numbers)"),
    opt("cwd", Ty::Str, "the login directory", "working directory"),
    opt("stdin", Ty::Str, "none", "text fed to the command's standard input"),
    opt(
        "timeout",
        Ty::Duration,
        "--command-timeout (30m)",
        "kill the command after this long",
    ),
];

const HOST_RUN_OPTIONS: &[Opt] = &[
    RUN_OPTIONS[0],
    RUN_OPTIONS[1],
    RUN_OPTIONS[2],
    RUN_OPTIONS[3],
    RUN_OPTIONS[4],
    RUN_OPTIONS[5],
    RUN_OPTIONS[6],
    SUDO,
    USER,
];

/// Every built-in, in the order the reference lists them.
pub static BUILTINS: &[Builtin] = &[
    // ---- globals
    Builtin {
        name: "step",
        receiver: Receiver::Global,
        args: &[
            arg("name", "string", "the step's name, shown and journaled"),
            maybe(
                "targets",
                "hosts(…), a host, a list of hosts or a pattern",
                "where it runs; leave out for a controller step",
            ),
            arg(
                "closure",
                "|h| { … } (|| { … } for a controller step)",
                "what it does on each host",
            ),
        ],
        options: &[
            opt(
                "serial",
                Ty::Int,
                "all at once",
                "run the hosts in batches of this many, one batch after another",
            ),
            opt(
                "max_fail",
                Ty::Limit,
                "no limit",
                "how many of the step's hosts (a count, or a percentage like \"25%\") may fail before the play stops after the step; without it a failed host only drops out of the play",
            ),
            opt(
                "any_errors_fatal",
                Ty::Bool,
                "false",
                "stop the play after this step if any host failed in it",
            ),
            opt(
                "tags",
                Ty::StrOrList,
                "[]",
                "labels for `--tags`/`--skip-tags`: with `--tags`, only steps carrying one of them run (and those tagged `always`); a step left out is reported and journaled as skipped, and a resume runs it",
            ),
            opt(
                "handlers",
                Ty::List,
                "[]",
                "a list of `#{ name, run }` maps (`run`: a closure given the host): what to do once on a host at the end of the step if an operation that names it (`notify: \"restart app\"`) changed something there, in this order (see [Handlers](#handlers))",
            ),
        ],
        returns: "a map host name → what the closure returned (a controller step: its value)",
        fields: &[],
        doc: "Runs the closure on every target host, in parallel up to --forks (or in `serial` batches); each host's result is journaled before it moves on. The options map goes between the targets and the closure. A host that fails (or cannot be reached) drops out: later steps skip it and the other hosts go on to the end of the play, which then exits 2. The play stops after a step when every one of its hosts failed, when `any_errors_fatal` is set and one failed, when more than `max_fail` failed, or, in a `serial` step, before the next batch once a batch had a failure.",
        dry_run: "runs the closure; every operation inside plans instead of acting",
        example: "step(\"web\", hosts(\"web\"), #{ serial: 1 }, |h| { h.apt([\"nginx\"]); });",
    },
    Builtin {
        name: "hosts",
        receiver: Receiver::Global,
        args: &[arg(
            "pattern",
            "string",
            "group or host names, globs (web*), unions (web,db), exclusions (!db2), intersections (&)",
        )],
        options: &[],
        returns: "a list of hosts (the whole inventory: --limit does not apply)",
        fields: &[],
        doc: "The hosts matching a pattern, in inventory order. An unknown group or host name is an error that names the known ones.",
        dry_run: "the same; droplets a dry run would create are hosts with addresses `(known after apply)`",
        example: "let apps = hosts(\"app\");",
    },
    Builtin {
        name: "var",
        receiver: Receiver::Global,
        args: &[
            arg("name", "string", ""),
            maybe("default", "any", "returned when the variable is not set"),
        ],
        options: &[],
        returns: "the variable's value (from --var / --var-json / --vars-file, else the inventory's [vars])",
        fields: &[],
        doc: "A global variable; `h.var(name)` reads a host's merged variables. Without a default an unset variable is an error that says where to set it.",
        dry_run: "the same",
        example: "let version = var(\"version\");",
    },
    Builtin {
        name: "var_int",
        receiver: Receiver::Global,
        args: &[
            arg("name", "string", ""),
            maybe("default", "integer", "returned when the variable is not set"),
        ],
        options: &[],
        returns: "the variable as an integer (its text \"3\" is taken; anything else is an error naming it)",
        fields: &[],
        doc: "A global variable that must be a whole number: `--var` values are text, so read numbers with this.",
        dry_run: "the same",
        example: "let serial = var_int(\"serial\", 1);",
    },
    Builtin {
        name: "var_bool",
        receiver: Receiver::Global,
        args: &[
            arg("name", "string", ""),
            maybe("default", "bool", "returned when the variable is not set"),
        ],
        options: &[],
        returns: "the variable as true or false (its text \"true\"/\"false\" is taken; anything else is an error)",
        fields: &[],
        doc: "A global variable that must be a flag: `--var` values are text, so read flags with this.",
        dry_run: "the same",
        example: "if var_bool(\"rollback\", false) { … }",
    },
    Builtin {
        name: "as_int",
        receiver: Receiver::Global,
        args: &[arg("value", "any", "an integer or its text")],
        options: &[],
        returns: "the integer",
        fields: &[],
        doc: "A value as an integer: an integer, or text that is one; anything else is an error.",
        dry_run: "the same",
        example: "let n = as_int(h.var(\"workers\"));",
    },
    Builtin {
        name: "as_bool",
        receiver: Receiver::Global,
        args: &[arg("value", "any", "a bool or \"true\"/\"false\"")],
        options: &[],
        returns: "true or false",
        fields: &[],
        doc: "A value as a flag: a bool, or the text \"true\" or \"false\"; anything else is an error.",
        dry_run: "the same",
        example: "if as_bool(h.var(\"primary\", false)) { … }",
    },
    Builtin {
        name: "secret",
        receiver: Receiver::Global,
        args: &[arg(
            "name",
            "string",
            "the environment variable NAME (upper-cased) or the file secrets/NAME beside the inventory",
        )],
        options: &[],
        returns: "the secret's text; masked as *** in every output and the journal",
        fields: &[],
        doc: "A secret value, never printed.",
        dry_run: "the same",
        example: "let pw = secret(\"db_password\");",
    },
    Builtin {
        name: "log",
        receiver: Receiver::Global,
        args: &[
            maybe("host", "host", "prefix the line with the host's name"),
            arg("message", "any", ""),
        ],
        options: &[],
        returns: "()",
        fields: &[],
        doc: "Prints a line in the run's output (`print` does too); inside a step the line is prefixed with the host whose closure prints it.",
        dry_run: "the same",
        example: "log(h, `release ${version}`);",
    },
    // ---- host operations
    Builtin {
        name: "var",
        receiver: Receiver::Host,
        args: &[
            arg("name", "string", ""),
            maybe("default", "any", "returned when the variable is not set"),
        ],
        options: &[],
        returns: "the host's variable (host, then its groups, then [vars], under --var)",
        fields: &[],
        doc: "A variable of this host. Without a default an unset variable is an error.",
        dry_run: "the same",
        example: "let port = h.var(\"port\", 3000);",
    },
    Builtin {
        name: "var_int",
        receiver: Receiver::Host,
        args: &[arg("name", "string", ""), maybe("default", "integer", "")],
        options: &[],
        returns: "the host's variable as an integer (see var_int)",
        fields: &[],
        doc: "A variable of this host that must be a whole number.",
        dry_run: "the same",
        example: "let port = h.var_int(\"port\", 3000);",
    },
    Builtin {
        name: "var_bool",
        receiver: Receiver::Host,
        args: &[arg("name", "string", ""), maybe("default", "bool", "")],
        options: &[],
        returns: "the host's variable as true or false (see var_bool)",
        fields: &[],
        doc: "A variable of this host that must be a flag.",
        dry_run: "the same",
        example: "if h.var_bool(\"primary\", false) { … }",
    },
    Builtin {
        name: "run",
        receiver: Receiver::Host,
        args: &[arg(
            "command",
            "string or list",
            "a shell command as written, or a list of words (each quoted)",
        )],
        options: HOST_RUN_OPTIONS,
        returns: "a map",
        fields: RUN_RESULT,
        doc: "Runs a command. Not idempotent by nature: unless `readonly: true` or `changed: false`, it counts as a change every time it runs; put it behind a condition.",
        dry_run: "not executed (one planned change) unless `readonly: true`",
        example: "let k = h.run(\"uname -r\", #{ readonly: true }).stdout;",
    },
    Builtin {
        name: "file",
        receiver: Receiver::Host,
        args: &[arg("path", "string", "absolute path on the host")],
        options: &[
            opt("content", Ty::Str, "none", "the file's text"),
            opt(
                "src",
                Ty::Str,
                "none",
                "a file on the controller (beside the playbook) to copy instead",
            ),
            MODE,
            OWNER,
            GROUP,
            VALIDATE,
            RELOAD,
            CONFIRM,
            CONFIRM_USER,
            SUDO,
            USER,
        ],
        returns: "a map",
        fields: OP_RESULT,
        doc: "A file with this content and these attributes: written to a temporary file beside it and renamed over it, only when something differs.",
        dry_run: WRITE_DRY_RUN,
        example: "h.file(\"/opt/apps/.env\", #{ content: \"PORT=3000\\n\", mode: \"0600\", owner: \"nodejs\" });",
    },
    Builtin {
        name: "template",
        receiver: Receiver::Host,
        args: &[
            arg(
                "src",
                "string",
                "a Jinja2 template beside the playbook, in templates/, or the stdlib's",
            ),
            arg("dest", "string", "path on the host"),
            maybe("vars", "map", "variables for the template, besides the host's own"),
        ],
        options: &[MODE, OWNER, GROUP, VALIDATE, RELOAD, CONFIRM, CONFIRM_USER, SUDO, USER],
        returns: "a map",
        fields: OP_RESULT,
        doc: "Renders a template (minijinja; undefined variables are errors) and writes it like `h.file`. The template sees the host's variables, `host` (name, addresses, groups), `inventory` and `vars`.",
        dry_run: WRITE_DRY_RUN,
        example: "h.template(\"site.conf.j2\", \"/etc/nginx/sites-available/app\", #{ upstreams: ips });",
    },
    Builtin {
        name: "line",
        receiver: Receiver::Host,
        args: &[arg("path", "string", ""), arg("line", "string", "the whole line")],
        options: &[
            opt(
                "regex",
                Ty::Str,
                "the line itself",
                "the line to replace: the last line matching this regex",
            ),
            opt("state", Ty::Str, "\"present\"", "\"present\" or \"absent\""),
            MODE,
            OWNER,
            GROUP,
            VALIDATE,
            RELOAD,
            CONFIRM,
            CONFIRM_USER,
            SUDO,
            USER,
        ],
        returns: "a map",
        fields: OP_RESULT,
        doc: "A line present in (or absent from) a file; with `regex`, the matching line is replaced. The file is written like `h.file`.",
        dry_run: WRITE_DRY_RUN,
        example: "h.line(\"/etc/nginx/nginx.conf\", \"server_tokens off;\", #{ regex: \"^\\\\s*server_tokens\" });",
    },
    Builtin {
        name: "dir",
        receiver: Receiver::Host,
        args: &[arg("path", "string", "")],
        options: &[MODE, OWNER, GROUP, SUDO, USER],
        returns: "a map",
        fields: OP_RESULT,
        doc: "A directory (and its parents) with these attributes.",
        dry_run: "planned",
        example: "h.dir(\"/opt/apps/releases\", #{ owner: \"nodejs\", mode: \"0755\" });",
    },
    Builtin {
        name: "symlink",
        receiver: Receiver::Host,
        args: &[
            arg("target", "string", "what the link points to"),
            arg("link", "string", "the link's path"),
        ],
        options: &[OWNER, GROUP, SUDO, USER],
        returns: "a map",
        fields: OP_RESULT,
        doc: "A symbolic link, swapped atomically (new link, then rename).",
        dry_run: "planned",
        example: "h.symlink(\"/etc/nginx/sites-available/app\", \"/etc/nginx/sites-enabled/app\");",
    },
    Builtin {
        name: "absent",
        receiver: Receiver::Host,
        args: &[arg("path", "string", "")],
        options: &[SUDO, USER],
        returns: "a map",
        fields: OP_RESULT,
        doc: "Removes a file, link or directory (recursively) if it exists.",
        dry_run: "planned",
        example: "h.absent(\"/etc/nginx/sites-enabled/default\");",
    },
    Builtin {
        name: "user",
        receiver: Receiver::Host,
        args: &[arg("name", "string", "")],
        options: &[
            opt("home", Ty::Str, "/home/NAME", "home directory"),
            opt("shell", Ty::Str, "the system's default", "login shell"),
            opt(
                "groups",
                Ty::StrOrList,
                "unchanged",
                "supplementary groups: exactly these (or, with `append`, at least these)",
            ),
            opt(
                "append",
                Ty::Bool,
                "false",
                "add `groups` to the user's groups instead of setting them",
            ),
            opt("system", Ty::Bool, "false", "a system account"),
            opt("uid", Ty::Int, "the next free one", "user id of a new user"),
            opt(
                "create_home",
                Ty::Bool,
                "true (false for system users)",
                "make the home directory",
            ),
            SUDO,
            USER,
        ],
        returns: "a map",
        fields: OP_RESULT,
        doc: "A user account with these attributes.",
        dry_run: "planned",
        example: "h.user(\"nodejs\", #{ shell: \"/bin/bash\", groups: [\"adm\"] });",
    },
    Builtin {
        name: "apt",
        receiver: Receiver::Host,
        args: &[arg("packages", "string or list of strings", "")],
        options: &[
            opt("state", Ty::Str, "\"present\"", "\"present\" or \"absent\""),
            opt(
                "update",
                Ty::Bool,
                "false",
                "refresh the package lists before installing, however fresh they are (without it they are refreshed only when older than `cache_valid`); nothing is refreshed when nothing is to be installed",
            ),
            opt(
                "cache_valid",
                Ty::Duration,
                "\"1h\"",
                "how old the package lists may be when something is to be installed before they are refreshed first",
            ),
            SUDO,
            USER,
        ],
        returns: "a map",
        fields: OP_RESULT,
        doc: "Debian packages installed (non-interactively, waiting for another apt's lock) or removed. `name=version` pins a version; removing `name=version` removes the package only when that version is installed.",
        dry_run: "planned; files the packages will bring count as possibly present",
        example: "h.apt([\"nginx\", \"ufw\"], #{ update: true });",
    },
    Builtin {
        name: "service",
        receiver: Receiver::Host,
        args: &[
            arg("name", "string", "the unit"),
            maybe(
                "state",
                "string",
                "\"started\", \"stopped\", \"restarted\" or \"reloaded\"; left out, only `enabled` is seen to",
            ),
        ],
        options: &[opt("enabled", Ty::Bool, "unchanged", "started at boot"), SUDO, USER],
        returns: "a map",
        fields: OP_RESULT,
        doc: "A service's state. `restarted` and `reloaded` act (and count as a change) every time: call them only when something changed (`if r.changed { … }`). Without a state (`h.service(name, #{ enabled: true })`) it is enabled (or disabled) without being started or stopped.",
        dry_run: "planned",
        example: "if conf.changed { h.service(\"nginx\", \"reloaded\"); }\nh.service(\"ace-worker.service\", #{ enabled: true });   // at boot; not started now",
    },
    Builtin {
        name: "systemd_unit",
        receiver: Receiver::Host,
        args: &[arg(
            "name",
            "string",
            "the unit's file name: NAME.service, .socket, .timer, .target, .path, .mount, .automount, .swap or .slice",
        )],
        options: &[
            opt(
                "content",
                Ty::Str,
                "none",
                "the unit's text (one of content, src, template)",
            ),
            opt(
                "src",
                Ty::Str,
                "none",
                "a file on the controller (beside the playbook or in files/) to copy instead",
            ),
            opt(
                "template",
                Ty::Str,
                "none",
                "a Jinja2 template (found like h.template's) rendered with `vars`",
            ),
            opt(
                "vars",
                Ty::Map,
                "#{}",
                "the template's variables, besides the host's own",
            ),
            opt(
                "drop_in",
                Ty::Str,
                "none (the unit file itself)",
                "write this drop-in (\"10-limits.conf\") in /etc/systemd/system/NAME.d/ instead: it changes a unit a package brings",
            ),
            opt(
                "enabled",
                Ty::Bool,
                "unchanged",
                "started at boot (`true` needs an [Install] section); a changed unit file is enabled anew (`reenable`)",
            ),
            opt(
                "state",
                Ty::Str,
                "unchanged (never restarted)",
                "\"started\" (a unit changed while it runs, or running since before its files were written, is restarted), \"stopped\", \"restarted\" or \"reloaded\" (both: every time)",
            ),
            SUDO,
            USER,
        ],
        returns: "a map",
        fields: OP_RESULT,
        doc: "A systemd unit in /etc/systemd/system/NAME (or a drop-in beside it), written like `h.file` (mode 0644); `systemctl daemon-reload` only when a unit file changed (or systemd says one did since it read them); then enabled and started as asked. With `state: \"started\"` a running service whose unit changed is restarted, so what runs is what the file says (Ansible's systemd module leaves that to a handler); leave `state` out to enable a unit without starting it, or to never restart it.",
        dry_run: "planned with a unified diff, and the daemon-reload, enable and start it would run",
        example: "h.systemd_unit(\"ace.service\", #{ template: \"ace.service.j2\", vars: #{ port: 3000 }, enabled: true, state: \"started\", sudo: true });\nh.systemd_unit(\"redis-server.service\", #{ drop_in: \"10-limits.conf\", content: \"[Service]\\nLimitNOFILE=65536\\n\", state: \"started\", sudo: true });",
    },
    Builtin {
        name: "ufw",
        receiver: Receiver::Host,
        args: &[],
        options: &[
            opt(
                "incoming",
                Ty::Str,
                "unchanged",
                "default policy: \"deny\", \"allow\" or \"reject\"",
            ),
            opt("outgoing", Ty::Str, "unchanged", "default policy"),
            opt(
                "rules",
                Ty::List,
                "[]",
                "#{ port, proto, from, action } each; action allow (default), deny, reject or limit",
            ),
            opt(
                "enabled",
                Ty::Bool,
                "unchanged",
                "turn the firewall on (refused unless a rule lets SSH in)",
            ),
            opt("exact", Ty::Bool, "false", "delete rules not in `rules`"),
            opt(
                "confirm",
                Ty::Confirm,
                "\"60s\"",
                "a change to an enabled firewall undoes itself after this long unless a new SSH login works right after it (`true`: 60s; `false` or 0: no safety net)",
            ),
            SUDO,
            USER,
        ],
        returns: "a map",
        fields: OP_RESULT,
        doc: "The host's ufw firewall: policies and exactly these rules.",
        dry_run: "planned",
        example: "h.ufw(#{ incoming: \"deny\", rules: [#{ port: 22, proto: \"tcp\" }], enabled: true });",
    },
    Builtin {
        name: "read",
        receiver: Receiver::Host,
        args: &[arg("path", "string", "")],
        options: &[SUDO, USER],
        returns: "the file's text, or () when it does not exist",
        fields: &[],
        doc: "A file's text. A path the user may not see is an error, never \"missing\".",
        dry_run: "as earlier planned writes would have left it; `(known after apply)` for a file a planned package brings that `h.line` edited",
        example: "let conf = h.read(\"/etc/hostname\");",
    },
    Builtin {
        name: "fact",
        receiver: Receiver::Host,
        args: &[
            arg("kind", "string", "file, package, service, user, group, ufw, os or init"),
            maybe("arg", "string", "the path or name (not for ufw, os, init)"),
        ],
        options: &[SUDO, USER],
        returns: "a map of the fact's fields (see \"Facts\")",
        fields: &[],
        doc: "Reads one fact of the host.",
        dry_run: "as earlier planned operations would have left it; `sha256` and `size` are `(known after apply)` for a file a planned package brings that `h.line` edited",
        example: "print(h.fact(\"file\", \"/etc/nginx/nginx.conf\").sha256);",
    },
    Builtin {
        name: "upload",
        receiver: Receiver::Host,
        args: &[
            arg("local", "string or local::pack's map", "a file on the controller"),
            arg("remote", "string", "its path on the host"),
        ],
        options: &[MODE, OWNER, GROUP, VALIDATE, RELOAD, CONFIRM, CONFIRM_USER, SUDO, USER],
        returns: "a map",
        fields: &[
            field("changed", "bool", ""),
            field("path", "string", "the remote path"),
            field("sha256", "string", ""),
        ],
        doc: "Copies a file over SFTP, skipped when the host has the same bytes.",
        dry_run: "planned",
        example: "let up = h.upload(t, \"/opt/apps/deploys/ace-1.0.tar.gz\");",
    },
    Builtin {
        name: "unpack",
        receiver: Receiver::Host,
        args: &[
            arg("archive", "string or h.upload's map", "a .tar.gz on the host"),
            arg("dest", "string", "a new directory"),
        ],
        options: &[OWNER, GROUP, SUDO, USER],
        returns: "a map",
        fields: &[
            field("changed", "bool", ""),
            field("path", "string", "the directory"),
            field("sha256", "string", "the archive's"),
        ],
        doc: "Unpacks into a new directory (a temporary one renamed into place); the same archive again is no change, another one is an error.",
        dry_run: "planned",
        example: "h.unpack(up, \"/opt/apps/releases/ace-1.0\", #{ owner: \"nodejs\" });",
    },
    Builtin {
        name: "notify",
        receiver: Receiver::Host,
        args: &[arg(
            "handlers",
            "string or list of strings",
            "names of handlers the step declares",
        )],
        options: &[],
        returns: "()",
        fields: &[],
        doc: "Notifies handlers of the step for the host the step runs on, as an operation with `notify` does when it changed something: for a condition of your own, or a module function that takes `notify` and changed something (`release::activate` does).",
        dry_run: "the same: the handlers run in dry-run mode at the step's end",
        example: "if r.stdout.contains(\"upgraded\") { h.notify(\"restart app\"); }",
    },
    Builtin {
        name: "wait_http",
        receiver: Receiver::Host,
        args: &[arg(
            "url",
            "string",
            "http or https, as the host reaches it (`http://127.0.0.1:3000/health`, a private address)",
        )],
        options: HTTP_WAIT_OPTIONS,
        returns: "the answer's status code",
        fields: &[],
        doc: "`wait::http` from the host's side: each try goes through runbook's SSH connection to the host (a direct-tcpip channel, so the host needs no curl, and its sshd must allow TCP forwarding, as Debian's does), for an app port only the host, or its network, can reach. Same options, answers and last-observation errors as `wait::http`; on `connection = \"local\"` the controller connects itself.",
        dry_run: "prints what it would wait for; returns `(known after apply)`",
        example: "h.wait_http(\"http://127.0.0.1:3000/health\", #{ status: 200, timeout: \"30s\" });",
    },
    // ---- cloud
    Builtin {
        name: "droplet",
        receiver: Receiver::Module("cloud"),
        args: &[arg("name", "string", "")],
        options: &[
            opt("size", Ty::Str, "required", "size slug, e.g. \"s-1vcpu-1gb\""),
            opt(
                "image",
                Ty::Any,
                "required",
                "image slug, or a snapshot from cloud::snapshot",
            ),
            opt("region", Ty::Str, "required on DigitalOcean", "e.g. \"fra1\""),
            opt("ssh_keys", Ty::StrOrList, "[]", "key fingerprints or .pub files"),
            opt("tags", Ty::StrOrList, "[]", "`role:NAME` tags make groups"),
            opt("vpc_uuid", Ty::Str, "the region's default", "VPC"),
            opt("user_data", Ty::Str, "none", "cloud-init"),
            opt("ipv6", Ty::Bool, "false", ""),
            opt("monitoring", Ty::Bool, "false", ""),
            opt("backups", Ty::Bool, "false", ""),
        ],
        returns: "the droplet",
        fields: DROPLET,
        doc: "A droplet with this name: found, or created and waited for until active.",
        dry_run: "reads; a droplet to create is returned with `(known after apply)` values",
        example: "let web1 = cloud::droplet(\"web1\", #{ size: \"s-1vcpu-1gb\", image: \"debian-12-x64\", region: \"fra1\" });",
    },
    Builtin {
        name: "droplets",
        receiver: Receiver::Module("cloud"),
        args: &[maybe("tag", "string", "default: the inventory's tag")],
        options: &[],
        returns: "a list of droplets",
        fields: DROPLET,
        doc: "The droplets with a tag.",
        dry_run: "the same",
        example: "for d in cloud::droplets() { print(d.name); }",
    },
    Builtin {
        name: "snapshot",
        receiver: Receiver::Module("cloud"),
        args: &[
            arg("droplet", "droplet or name", ""),
            arg("name", "string", "the snapshot's name"),
        ],
        options: &[],
        returns: "the snapshot (`id`, `name`), usable as a droplet's `image`",
        fields: &[],
        doc: "Powers the droplet off, snapshots it and powers it on, once per snapshot name.",
        dry_run: "planned",
        example: "let snap = cloud::snapshot(web1, \"web1-base\");",
    },
    Builtin {
        name: "delete_snapshot",
        receiver: Receiver::Module("cloud"),
        args: &[arg("name", "string", "")],
        options: &[],
        returns: "true when a snapshot was deleted",
        fields: &[],
        doc: "Deletes a snapshot by name.",
        dry_run: "planned",
        example: "cloud::delete_snapshot(\"web1-base\");",
    },
    Builtin {
        name: "power_off",
        receiver: Receiver::Module("cloud"),
        args: &[arg("droplet", "droplet or name", "")],
        options: &[],
        returns: "()",
        fields: &[],
        doc: "Powers a droplet off (no change when it is off).",
        dry_run: "planned",
        example: "cloud::power_off(web1);",
    },
    Builtin {
        name: "power_on",
        receiver: Receiver::Module("cloud"),
        args: &[arg("droplet", "droplet or name", "")],
        options: &[],
        returns: "()",
        fields: &[],
        doc: "Powers a droplet on (no change when it is on).",
        dry_run: "planned",
        example: "cloud::power_on(web1);",
    },
    Builtin {
        name: "destroy",
        receiver: Receiver::Module("cloud"),
        args: &[arg("droplet", "droplet or name", "")],
        options: &[],
        returns: "()",
        fields: &[],
        doc: "Destroys a droplet; only droplets carrying the inventory's tag.",
        dry_run: "planned",
        example: "cloud::destroy(\"web3\");",
    },
    Builtin {
        name: "a_record",
        receiver: Receiver::Module("dns"),
        args: &[
            arg(
                "zone",
                "string",
                "e.g. \"example.com\" (Route 53: or its hosted-zone id)",
            ),
            arg("name", "string", "e.g. \"www\", or \"@\""),
            arg("addresses", "list of strings", ""),
        ],
        options: &[
            opt("ttl", Ty::Int, "300", "seconds"),
            opt(
                "exact",
                Ty::Bool,
                "false",
                "remove addresses not in the list; with an empty list, delete the record (as dns::delete)",
            ),
            opt(
                "health_check",
                Ty::Map,
                "none",
                "Route 53: #{ type, port, path }, one multivalue-answer record per address",
            ),
            opt("comment", Ty::Str, "none", "Route 53 change comment"),
        ],
        returns: "a map",
        fields: &[
            field("changed", "bool", ""),
            field("added", "list of strings", ""),
            field("removed", "list of strings", ""),
            field("ttl", "integer", ""),
            field(
                "health_checks",
                "list of strings",
                "Route 53: addresses whose health check was replaced (deleted, when the record is deleted)",
            ),
        ],
        doc: "An A record with these addresses. An empty list is refused unless `exact` is true: \
              then the record is deleted, as by dns::delete.",
        dry_run: "reads; changes planned",
        example: "dns::a_record(\"example.com\", \"www\", [web1.public_ip], #{ ttl: 300, exact: true });",
    },
    Builtin {
        name: "delete",
        receiver: Receiver::Module("dns"),
        args: &[
            arg(
                "zone",
                "string",
                "e.g. \"example.com\" (Route 53: or its hosted-zone id)",
            ),
            arg("name", "string", "e.g. \"www\", or \"@\""),
        ],
        options: &[opt("comment", Ty::Str, "none", "Route 53 change comment")],
        returns: "a map, as dns::a_record's",
        fields: &[
            field("changed", "bool", "false when the name had no A record"),
            field("added", "list of strings", "empty"),
            field(
                "removed",
                "list of strings",
                "the addresses deleted (a Route 53 alias: `alias` and its target)",
            ),
            field("ttl", "()", ""),
            field(
                "health_checks",
                "list of strings",
                "Route 53: addresses whose health check was deleted with the record",
            ),
        ],
        doc: "Deletes the name's A records: every address (DigitalOcean: each domain record; \
              Route 53: every A record set of the name, exactly as it is, whatever its routing, \
              and the health checks runbook made for them that no other record of the zone uses; \
              the hosts file: the name on every line). Other record types (AAAA, CNAME, MX, TXT, …) \
              are left alone. No A record is no change.",
        dry_run: "reads; the deletion planned (\"would delete A www.example.com 192.0.2.10, 192.0.2.11\")",
        example: "dns::delete(\"example.com\", \"staging\");",
    },
    Builtin {
        name: "refresh",
        receiver: Receiver::Module("inventory"),
        args: &[],
        options: &[],
        returns: "()",
        fields: &[],
        doc: "Reads the cloud's droplets again: new droplets join their role groups.",
        dry_run: "droplets it would have created join as hosts `(known after apply)`",
        example: "inventory::refresh();",
    },
    Builtin {
        name: "groups",
        receiver: Receiver::Module("inventory"),
        args: &[],
        options: &[],
        returns: "the group names (discovered ones included)",
        fields: &[],
        doc: "The inventory's groups.",
        dry_run: "the same",
        example: "if \"db\" in inventory::groups() { … }",
    },
    // ---- waits
    Builtin {
        name: "ssh",
        receiver: Receiver::Module("wait"),
        args: &[arg("host", "host", ""), maybe("timeout", "duration", "default 5m")],
        options: &[
            opt("user", Ty::Str, "the inventory's", "log in as this user"),
            opt(
                "sudo",
                Ty::Bool,
                "false",
                "also check that sudo works without a password",
            ),
        ],
        returns: "()",
        fields: &[],
        doc: "Waits for SSH: TCP, banner, login, `true`.",
        dry_run: "prints what it would wait for",
        example: "wait::ssh(h, \"5m\");",
    },
    Builtin {
        name: "port",
        receiver: Receiver::Module("wait"),
        args: &[
            arg("target", "host or address", ""),
            arg("port", "integer", ""),
            maybe("timeout", "duration", "default 60s"),
        ],
        options: &[],
        returns: "()",
        fields: &[],
        doc: "Waits until a TCP port accepts connections (from the controller).",
        dry_run: "prints what it would wait for",
        example: "wait::port(h, 3000, \"60s\");",
    },
    Builtin {
        name: "http",
        receiver: Receiver::Module("wait"),
        args: &[arg("url", "string", "")],
        options: HTTP_WAIT_OPTIONS,
        returns: "the answer's status code",
        fields: &[],
        doc: "Waits until a URL answers as asked (from the controller; `h.wait_http` asks from a host).",
        dry_run: "prints what it would wait for",
        example: "wait::http(\"https://www.example.com/healthcheck\", #{ status: 200, contains: \"ok\" });",
    },
    Builtin {
        name: "cloud_active",
        receiver: Receiver::Module("wait"),
        args: &[
            arg("droplet", "droplet or name", ""),
            maybe("timeout", "duration", "default 10m"),
        ],
        options: &[],
        returns: "the droplet",
        fields: DROPLET,
        doc: "Waits until a droplet is active.",
        dry_run: "prints what it would wait for",
        example: "let d = wait::cloud_active(\"web1\");",
    },
    Builtin {
        name: "until_true",
        receiver: Receiver::Module("wait"),
        args: &[arg(
            "closure",
            "|| …",
            "called until it returns something other than false or ()",
        )],
        options: &[
            opt("timeout", Ty::Duration, "\"60s\"", ""),
            opt("every", Ty::Duration, "\"2s\"", "the cap of the exponential back-off"),
            opt("what", Ty::Str, "\"condition\"", "what is awaited, for messages"),
        ],
        returns: "what the closure returned",
        fields: &[],
        doc: "Calls the closure until it returns a value; a closure that throws counts as not yet.",
        dry_run: "prints what it would wait for",
        example: "wait::until_true(|| hosts(\"web\").len() == 3, #{ timeout: \"2m\" });",
    },
    // ---- the controller
    Builtin {
        name: "pack",
        receiver: Receiver::Module("local"),
        args: &[
            arg("dir", "string", "directory on the controller"),
            arg("name", "string", "archive name (.runbook/build/NAME) or path"),
        ],
        options: &[
            opt(
                "exclude",
                Ty::StrOrList,
                "[]",
                "gitignore patterns, besides DIR/.runbookignore",
            ),
            opt("prepare", Ty::Str, "none", "a command run in DIR first"),
        ],
        returns: "a map",
        fields: &[
            field("path", "string", "the archive on the controller"),
            field("sha256", "string", ""),
            field("size", "integer", "bytes"),
        ],
        doc: "A deterministic .tar.gz of a directory: the same tree gives the same bytes.",
        dry_run: "runs (it only writes on the controller)",
        example: "let t = local::pack(\"app\", \"ace-1.0.tar.gz\", #{ exclude: [\".git\"] });",
    },
    Builtin {
        name: "run",
        receiver: Receiver::Module("local"),
        args: &[arg("command", "string or list", "")],
        options: RUN_OPTIONS,
        returns: "a map",
        fields: RUN_RESULT,
        doc: "Runs a command on the controller, like `h.run`.",
        dry_run: "not executed (one planned change) unless `readonly: true`",
        example: "local::run([\"git\", \"rev-parse\", \"HEAD\"], #{ readonly: true });",
    },
    Builtin {
        name: "read_file",
        receiver: Receiver::Module("local"),
        args: &[arg("path", "string", "on the controller; ~/ expands")],
        options: &[],
        returns: "the file's text",
        fields: &[],
        doc: "Reads a text file on the controller.",
        dry_run: "the same",
        example: "let key = local::read_file(\"~/.ssh/id_ed25519.pub\");",
    },
];

/// Handlers, as the reference explains them once (under `step`).
pub const HANDLERS: &str = r#"A step's `handlers` are what it does once on a host at its end when something there changed (Ansible's handlers). Declare them in the step's options, in the order they are to run; an operation that reports `changed` names them with `notify` (a name or a list of names), and `h.notify(name)` notifies from a condition of your own:

```rhai
step("web", hosts("web"), #{ handlers: [
    #{ name: "reload nginx", run: |h| h.service("nginx", "reloaded") },
] }, |h| {
    h.template("site.conf.j2", "/etc/nginx/sites-available/app", #{ upstreams: ips }, #{ notify: "reload nginx" });
    h.line("/etc/nginx/nginx.conf", "server_tokens off;", #{ notify: "reload nginx" });
});
```

- On each host, once the step's closure succeeded there, each handler that an operation notified *and changed something* (in a dry run: would) runs once, however many operations notified it, in the order the handlers are declared, with that host as `h`. An operation that changed nothing notifies nothing, so a second run runs no handler.
- A handler's result is a line of its step (`changed  web1  handler reload nginx  1 changed`), counted in the step's totals and the recap like a step's (one `ok`, its changes), in `--output json` a `handler` event (`host`, `handler`, `notified_by`) then a `host_result` with `handler`, and a journal record of its own (`runbook history` shows a row `handler reload nginx`). A handler that fails fails its host (the host's later handlers do not run) and counts for `max_fail` and `any_errors_fatal`.
- A dry run shows `would: [web1] run handler reload nginx (notified by h.template at site.rhai:5:5)` and runs the handler in dry-run mode, so its own plan follows.
- A host whose closure failed runs no handler (what the closure did may be half done), as in Ansible; but every notification is journaled when it happens, and `--resume` runs the handler once the step succeeds there. The same holds for a run killed or interrupted between a notifying change and its handler: on `--resume` the operation no longer reports a change, but the journal says the handler is owed, so it runs. A handler that ran (journaled) does not run again.
- Handlers belong to the step that declares them: `notify` names a handler of the step it is in (in a function the closure calls, too). A literal name that is none of them is an error at its `file:line:col`, with the nearest handler's name, when the step is reached (before it runs anywhere) and in `runbook check`; a name computed at run time fails the operation before it acts. A handler may notify handlers declared after it. Steps without hosts have no handlers.
- Every operation that returns `changed` takes `notify`, also ones added later: the option is handled once, around all of them. A module function of your own takes a `notify` option and calls `h.notify(opts.notify)` when it changed something, as `release::activate` and `release::rollback` do."#;

/// Host properties (read-only).
pub const HOST_PROPERTIES: &[Field] = &[
    field("name", "string", "the inventory name"),
    field("address", "string", "where runbook connects"),
    field("private_ip", "string", "the private address (else the address)"),
    field("public_ip", "string", "the public address (else the address)"),
    field("groups", "list of strings", "the host's groups, `all` first"),
    field(
        "vars",
        "map",
        "the host's merged variables; also `h.var(name)`, `h.var(name, default)`",
    ),
];

/// The kinds `h.fact` reads, with their fields.
pub const FACTS: &[(&str, &str, &[Field])] = &[
    (
        "file",
        "a path",
        &[
            field("kind", "string", "missing, file, dir, link or other"),
            field("owner", "string", ""),
            field("group", "string", ""),
            field("mode", "integer", "permission bits"),
            field("size", "integer", "bytes"),
            field("sha256", "string", "of a file's content"),
            field("link_target", "string", "of a link"),
        ],
    ),
    (
        "package",
        "a package name",
        &[field("installed", "bool", ""), field("version", "string", "")],
    ),
    (
        "service",
        "a unit name",
        &[
            field("exists", "bool", ""),
            field("active", "bool", ""),
            field("enabled", "bool", "enabled, or static (nothing to enable)"),
            field("masked", "bool", ""),
            field(
                "need_reload",
                "bool",
                "its files changed since systemd read them (daemon-reload is due)",
            ),
            field(
                "active_since",
                "integer",
                "when it became active (Unix seconds); () when inactive",
            ),
            field(
                "written",
                "integer",
                "when /etc/systemd/system/NAME or its NAME.d/*.conf were last written (Unix seconds); () when there are none",
            ),
        ],
    ),
    (
        "user",
        "a user name",
        &[
            field("exists", "bool", ""),
            field("uid", "integer", ""),
            field("home", "string", ""),
            field("shell", "string", ""),
            field("groups", "list of strings", "the primary group first"),
        ],
    ),
    (
        "group",
        "a group name",
        &[field("exists", "bool", ""), field("gid", "integer", "")],
    ),
    (
        "ufw",
        "",
        &[
            field("installed", "bool", ""),
            field("enabled", "bool", ""),
            field("default_incoming", "string", ""),
            field("default_outgoing", "string", ""),
            field("rules", "list of strings", "as `ufw show added` prints them"),
        ],
    ),
    (
        "os",
        "",
        &[
            field("id", "string", "e.g. debian"),
            field("version_id", "string", ""),
            field("codename", "string", ""),
            field("pretty_name", "string", ""),
        ],
    ),
    ("init", "", &[]),
];

/// Inventory file keys: (section, key, type, meaning). `NAME` stands for any name.
pub const INVENTORY_KEYS: &[(&str, &str, &str, &str)] = &[
    (
        "vars",
        "NAME",
        "any TOML value",
        "a variable of every host (lowest precedence)",
    ),
    ("groups.NAME", "hosts", "list of strings", "the group's hosts"),
    (
        "groups.NAME",
        "children",
        "list of strings",
        "groups whose hosts belong to this one too",
    ),
    (
        "groups.NAME",
        "vars",
        "table",
        "variables of the group's hosts (over [vars]; inner groups over outer)",
    ),
    (
        "hosts.NAME",
        "address",
        "string",
        "where to connect (default: the name)",
    ),
    ("hosts.NAME", "port", "integer", "SSH port"),
    ("hosts.NAME", "user", "string", "login user"),
    (
        "hosts.NAME",
        "connection",
        "\"ssh\" or \"local\"",
        "`local` runs on the controller (default ssh)",
    ),
    ("hosts.NAME", "key", "string", "private key file"),
    ("hosts.NAME", "private_ip", "string", "`h.private_ip`"),
    ("hosts.NAME", "public_ip", "string", "`h.public_ip`"),
    ("hosts.NAME", "vars", "table", "the host's variables (over its groups')"),
    (
        "ssh",
        "user",
        "string",
        "login user (default: ~/.ssh/config's User, else your login name)",
    ),
    (
        "ssh",
        "bootstrap_user",
        "string",
        "tried only when `user` is refused (a server not hardened yet)",
    ),
    ("ssh", "port", "integer", "default 22"),
    (
        "ssh",
        "key",
        "string",
        "private key file (~ expands); else ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa",
    ),
    (
        "ssh",
        "known_hosts",
        "string",
        "a known_hosts file beside the inventory, besides ~/.ssh/known_hosts",
    ),
    (
        "ssh",
        "jump",
        "string",
        "an inventory host or user@host:port to jump through",
    ),
    (
        "ssh",
        "password_secret",
        "string",
        "secret name of a login password (password login only when set)",
    ),
    (
        "ssh",
        "passphrase_secret",
        "string",
        "secret name of the key's passphrase",
    ),
    ("ssh", "connect_timeout", "integer", "seconds (default 10)"),
    ("cloud", "provider", "string", "\"digitalocean\" or \"docker\""),
    (
        "cloud",
        "tag",
        "string",
        "droplets with this tag are the inventory's; every droplet runbook makes carries it",
    ),
    (
        "cloud",
        "address",
        "string",
        "\"public\" (default) or \"private\": the address to connect to",
    ),
    (
        "cloud",
        "token_secret",
        "string",
        "secret name of the API token (default DIGITALOCEAN_TOKEN)",
    ),
    ("cloud", "endpoint", "string", "another API endpoint (tests)"),
    (
        "cloud",
        "network",
        "string",
        "docker: the network (default runbook-INVENTORY)",
    ),
    (
        "cloud",
        "ssh_public_key",
        "string",
        "docker: the key for root's authorized_keys (a file or the key)",
    ),
    (
        "cloud",
        "request_timeout",
        "integer",
        "seconds one API request (docker: one call to the engine) may take (default 60); a request \
         without an answer is tried once more at most, so no request takes more than 3 times this",
    ),
    (
        "dns",
        "provider",
        "string",
        "\"digitalocean\", \"route53\" or \"docker\" (a hosts file beside the inventory)",
    ),
    ("dns", "endpoint", "string", "another API endpoint (tests)"),
    (
        "dns",
        "token_secret",
        "string",
        "DigitalOcean: secret name of the API token",
    ),
    (
        "dns",
        "request_timeout",
        "integer",
        "seconds one DNS API request may take (default 60), as [cloud] request_timeout",
    ),
];

/// Ansible's connection variables that an Ansible inventory (INI or YAML) may set, and the
/// host setting each becomes: (variable, host setting, what it takes). Resolved per host after
/// Ansible's merge (all → parent → child group → host); of two names for one setting the
/// later one here wins, as in Ansible. They are settings then, not variables.
pub const ANSIBLE_HOST_KEYS: &[(&str, &str, &str)] = &[
    ("ansible_host", "address", "where to connect"),
    ("ansible_ssh_host", "address", "older name of ansible_host"),
    ("ansible_port", "port", "SSH port (also `host:2222` on a host line)"),
    ("ansible_ssh_port", "port", "older name of ansible_port"),
    ("ansible_user", "user", "login user"),
    ("ansible_ssh_user", "user", "older name of ansible_user"),
    (
        "ansible_connection",
        "connection",
        "`ssh` (also `smart`, `paramiko`) or `local`; any other is an error",
    ),
    ("ansible_private_key_file", "key", "private key file"),
    ("ansible_ssh_private_key_file", "key", "private key file"),
];

/// Ansible variables that make Ansible connect or act in a way runbook does not: an Ansible
/// inventory that sets one is refused at the line that sets it, with what to do instead.
/// (`ansible_become`, `ansible_sudo` and `ansible_su` set to false are accepted: that is what
/// runbook does anyway.) Every other variable, `ansible_python_interpreter` included, is a
/// variable like any other.
pub const ANSIBLE_REFUSED_KEYS: &[(&[&str], &str)] = &[
    (
        &["ansible_password", "ansible_ssh_pass", "ansible_ssh_password"],
        "runbook does not take passwords from an inventory: log in with a key, or name a secret in `[ssh] password_secret` of a TOML inventory",
    ),
    (
        &[
            "ansible_become",
            "ansible_become_user",
            "ansible_become_method",
            "ansible_become_password",
            "ansible_become_pass",
            "ansible_become_exe",
            "ansible_become_flags",
            "ansible_sudo",
            "ansible_sudo_user",
            "ansible_sudo_pass",
            "ansible_sudo_password",
            "ansible_sudo_exe",
            "ansible_sudo_flags",
            "ansible_su",
            "ansible_su_user",
            "ansible_su_pass",
            "ansible_su_password",
            "ansible_su_exe",
            "ansible_su_flags",
        ],
        "runbook escalates per operation, not per host: write `sudo: true` (or `user: \"NAME\"`) on the operations that need it",
    ),
    (
        &[
            "ansible_ssh_common_args",
            "ansible_ssh_extra_args",
            "ansible_sftp_extra_args",
            "ansible_scp_extra_args",
            "ansible_ssh_executable",
        ],
        "runbook speaks SSH itself and runs no ssh command: put ProxyJump and the like in ~/.ssh/config (runbook reads it), or `[ssh] jump` in a TOML inventory",
    ),
    (
        &["ansible_group_priority"],
        "runbook merges the variables of groups of the same depth by group name only",
    ),
];

/// The built-in called `name` on `receiver`.
pub fn find(receiver: Receiver, name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.receiver == receiver && b.name == name)
}

/// A built-in by how users write it: `h.file`, `file`, `cloud::droplet`, `step`.
pub fn lookup(query: &str) -> Option<&'static Builtin> {
    let q = query.trim().trim_end_matches("()");
    BUILTINS.iter().find(|b| {
        b.qualified() == q
            || (b.receiver == Receiver::Host && q == b.name)
            || (b.receiver == Receiver::Global && q == b.name)
    })
}

/// The nearest of `known` to `word`, when it is near enough to be a likely typo.
pub fn suggest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    known
        .into_iter()
        .map(|k| (distance(word, k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Optimal string alignment distance: edits, counting a swap of neighbours as one.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_nearest_name() {
        let file = find(Receiver::Host, "file").unwrap();
        assert_eq!(suggest("contnet", file.option_names()), Some("content"));
        assert_eq!(suggest("ownr", file.option_names()), Some("owner"));
        assert_eq!(suggest("colour", file.option_names()), None);
        assert_eq!(suggest("stpe", ["step", "hosts"]), Some("step"));
    }

    #[test]
    fn every_builtin_is_found_by_how_users_write_it() {
        for b in BUILTINS {
            assert!(std::ptr::eq(lookup(&b.qualified()).unwrap(), b), "{}", b.qualified());
        }
        assert_eq!(lookup("h.file").unwrap().name, "file");
        assert_eq!(lookup("local::run").unwrap().receiver, Receiver::Module("local"));
        assert_eq!(lookup("run").unwrap().receiver, Receiver::Host);
    }
}
