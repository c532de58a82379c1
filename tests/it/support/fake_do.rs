//! A fake DigitalOcean API v2 (shared/api/digitalocean.md) on 127.0.0.1. It checks every
//! request against the documented shapes (a wrong one is answered 400 and recorded as a
//! violation, which tests assert are none) and answers with the documented example bodies,
//! with the ids, names and state it tracks put in. Its sizes are those of the documented
//! `GET /v2/sizes` example (`sizes_list.200.json`: s-1vcpu-1gb at $5.00 a month); a test
//! adds others with `add_size`, and droplets embed the size object they were created with.

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::http::{Incoming, Reply, Server};

pub const TOKEN: &str = "dop_v1_fake0123456789abcdef";

fn example(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/digitalocean")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

/// A failure to answer with once, for the next request matching `method` and `path`.
pub struct Inject {
    pub method: &'static str,
    pub path: String,
    pub status: u16,
    /// For 429: `ratelimit-reset` this many seconds from now.
    pub reset_in: Option<u64>,
}

pub struct Action {
    pub json: Value,
    /// GETs it stays `in-progress` for.
    polls_left: u32,
    done: bool,
}

#[derive(Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: String,
    pub at: SystemTime,
    pub status: u16,
    /// The `ratelimit-reset` the answer carried.
    pub reset: Option<u64>,
}

pub struct State {
    next_id: i64,
    pub droplets: Vec<Value>,
    /// GETs a new droplet stays `new` (and actions `in-progress`) for.
    pub polls: u32,
    pub actions: Vec<Action>,
    /// `{id, name, droplet_id, created_at}`.
    pub snapshots: Vec<Value>,
    pub ssh_keys: Vec<Value>,
    pub tags: Vec<String>,
    /// Size objects as `GET /v2/sizes` lists them.
    pub sizes: Vec<Value>,
    /// The `size_gigabytes` the next snapshots get (default: the documented example's).
    pub snapshot_gigabytes: Value,
    pub domains: Vec<String>,
    pub records: Vec<(String, Value)>,
    /// Action types that end `errored`.
    pub error_actions: HashSet<String>,
    /// Action types that stay `in-progress` however often they are polled (a shutdown
    /// that hangs), until `finish_actions`.
    pub stuck_actions: HashSet<String>,
    pub inject: VecDeque<Inject>,
    pub violations: Vec<String>,
    pub log: Vec<Logged>,
    /// `ratelimit-remaining` of the next answer (counts down).
    pub remaining: u64,
    /// `ratelimit-reset` of ordinary answers, seconds from now.
    pub reset_in: u64,
    base: String,
}

pub struct FakeDo {
    pub server: Server,
    state: Arc<Mutex<State>>,
}

impl FakeDo {
    pub fn start() -> FakeDo {
        let state = Arc::new(Mutex::new(State {
            next_id: 3164444,
            droplets: Vec::new(),
            polls: 1,
            actions: Vec::new(),
            snapshots: Vec::new(),
            ssh_keys: Vec::new(),
            tags: Vec::new(),
            sizes: example("sizes_list.200.json")["sizes"].as_array().unwrap().clone(),
            snapshot_gigabytes: example("snapshots_list.200.droplets-snapshots.json")["snapshots"][0]["size_gigabytes"]
                .clone(),
            domains: vec!["example.com".into()],
            records: Vec::new(),
            error_actions: HashSet::new(),
            stuck_actions: HashSet::new(),
            inject: VecDeque::new(),
            violations: Vec::new(),
            log: Vec::new(),
            remaining: 5000,
            reset_in: 3600,
            base: String::new(),
        }));
        let s = state.clone();
        let server = Server::start(move |req| {
            let mut st = s.lock().unwrap();
            let reply = st.handle(req);
            st.log.push(Logged {
                method: req.method.clone(),
                path: req.path.clone(),
                query: req.query.clone(),
                body: req.body.clone(),
                at: req.at,
                status: reply.status,
                reset: reply
                    .headers
                    .iter()
                    .find(|(k, _)| k == "ratelimit-reset")
                    .and_then(|(_, v)| v.parse().ok()),
            });
            reply
        });
        state.lock().unwrap().base = server.url.clone();
        FakeDo { server, state }
    }

    pub fn url(&self) -> String {
        self.server.url.clone()
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Fails the test if any request broke the documented shapes.
    pub fn assert_no_violations(&self) {
        let v = self.state().violations.clone();
        assert!(
            v.is_empty(),
            "requests the API documents differently:\n{}",
            v.join("\n")
        );
    }

    pub fn requests(&self, method: &str, path_prefix: &str) -> Vec<Logged> {
        self.state()
            .log
            .iter()
            .filter(|l| l.method == method && l.path.starts_with(path_prefix))
            .cloned()
            .collect()
    }

    /// Droplet names, sorted.
    pub fn droplet_names(&self) -> Vec<String> {
        let mut n: Vec<String> = self
            .state()
            .droplets
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    }
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        headers: vec![("Content-Type".into(), "application/json; charset=utf-8".into())],
        body: if body.is_null() {
            String::new()
        } else {
            body.to_string()
        },
    }
}

fn error(status: u16, id: &str, message: &str) -> Reply {
    reply(status, json!({"id": id, "message": message}))
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 255
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && n.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
}

fn valid_tag(t: &str) -> bool {
    !t.is_empty() && t.len() <= 255 && t.chars().all(|c| c.is_ascii_alphanumeric() || "_-:".contains(c))
}

impl State {
    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    fn violation(&mut self, req: &Incoming, what: String) -> Reply {
        self.violations.push(format!("{}: {what}", req.target()));
        reply(
            400,
            json!({"id": "bad_request", "message": what, "request_id": "fake-request"}),
        )
    }

    fn handle(&mut self, req: &Incoming) -> Reply {
        let mut r = self.route(req);
        self.remaining = self.remaining.saturating_sub(1);
        let reset = (now() + self.reset_in).to_string();
        let has = |r: &Reply, h: &str| r.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(h));
        if !has(&r, "ratelimit-remaining") {
            r.headers.push(("ratelimit-limit".into(), "5000".into()));
            r.headers
                .push(("ratelimit-remaining".into(), self.remaining.to_string()));
            r.headers.push(("ratelimit-reset".into(), reset));
        }
        r
    }

    fn route(&mut self, req: &Incoming) -> Reply {
        if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            self.violations.push(format!(
                "{}: missing or wrong `Authorization: Bearer` header",
                req.target()
            ));
            return error(401, "unauthorized", "Unable to authenticate you.");
        }
        let has_body = matches!(req.method.as_str(), "POST" | "PUT" | "PATCH") && !req.body.is_empty();
        if has_body
            && !req
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/json"))
        {
            return self.violation(req, "request body without `Content-Type: application/json`".into());
        }
        if let Some(i) = self
            .inject
            .iter()
            .position(|i| i.method == req.method && req.path.starts_with(&i.path))
        {
            let inj = self.inject.remove(i).unwrap();
            return match inj.status {
                429 => {
                    let mut r = reply(429, example("droplets_create.429.json"));
                    r.headers.push(("ratelimit-limit".into(), "5000".into()));
                    r.headers.push(("ratelimit-remaining".into(), "0".into()));
                    r.headers.push((
                        "ratelimit-reset".into(),
                        (now() + inj.reset_in.unwrap_or(1)).to_string(),
                    ));
                    r
                }
                500 => error(500, "server_error", "Unexpected server-side error"),
                s => error(s, "example_error", "some error message"),
            };
        }
        let body: Value = if has_body {
            match serde_json::from_str(&req.body) {
                Ok(v) => v,
                Err(e) => return self.violation(req, format!("body is not JSON: {e}")),
            }
        } else {
            Value::Null
        };
        let path = req.path.trim_end_matches('/').to_string();
        let seg: Vec<&str> = path.split('/').skip(1).collect();
        match (req.method.as_str(), seg.as_slice()) {
            ("GET", ["v2", "droplets"]) => self.list_droplets(req),
            ("POST", ["v2", "droplets"]) => self.create_droplet(req, &body),
            ("GET", ["v2", "droplets", id]) => self.get_droplet(req, id),
            ("DELETE", ["v2", "droplets", id]) => self.delete_droplet(req, id),
            ("POST", ["v2", "droplets", id, "actions"]) => self.post_action(req, id, &body),
            ("GET", ["v2", "droplets", id, "snapshots"]) => self.droplet_snapshots(req, id),
            ("GET", ["v2", "actions", id]) => self.get_action(req, id),
            ("GET", ["v2", "snapshots"]) => self.list_snapshots(req),
            ("GET", ["v2", "sizes"]) => self.list_sizes(req),
            ("DELETE", ["v2", "snapshots", id]) => self.delete_snapshot(req, id),
            ("GET", ["v2", "images", id]) => self.get_image(req, id),
            ("GET", ["v2", "account", "keys", id]) => self.get_key(req, id),
            ("POST", ["v2", "account", "keys"]) => self.create_key(req, &body),
            ("GET", ["v2", "tags"]) => self.list_tags(req),
            ("POST", ["v2", "tags"]) => self.create_tag(req, &body),
            ("POST", ["v2", "tags", tag, "resources"]) => self.tag_resources(req, tag, &body),
            ("GET", ["v2", "domains", zone, "records"]) => self.list_records(req, zone),
            ("POST", ["v2", "domains", zone, "records"]) => self.create_record(req, zone, &body),
            ("PATCH" | "PUT", ["v2", "domains", zone, "records", id]) => self.update_record(req, zone, id, &body),
            ("DELETE", ["v2", "domains", zone, "records", id]) => self.delete_record(req, zone, id),
            _ => self.violation(req, "no such endpoint in digitalocean.md".into()),
        }
    }

    /// Checks the query keys and pagination parameters; `Err` is the reply to send.
    fn check_query(&mut self, req: &Incoming, allowed: &[&str]) -> Result<(usize, usize), Reply> {
        for (k, _) in &req.query {
            if !allowed.contains(&k.as_str()) && k != "page" && k != "per_page" {
                return Err(self.violation(req, format!("unknown query parameter `{k}`")));
            }
        }
        let num = |k: &str, default: usize| req.param(k).map(|v| v.parse::<usize>().ok()).unwrap_or(Some(default));
        match (num("per_page", 20), num("page", 1)) {
            (Some(pp), Some(page)) if (1..=200).contains(&pp) && page >= 1 => Ok((pp, page)),
            _ => Err(self.violation(req, "per_page must be 1..=200 and page ≥ 1".into())),
        }
    }

    /// One page of `items` under `key`, with `links.pages` and `meta.total` as documented.
    fn page(&self, req: &Incoming, key: &str, items: Vec<Value>, (per_page, page): (usize, usize)) -> Reply {
        let total = items.len();
        let last = total.div_ceil(per_page).max(1);
        let slice: Vec<Value> = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
        let link = |p: usize| {
            let mut q: Vec<String> = req
                .query
                .iter()
                .filter(|(k, _)| k != "page")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            q.push(format!("page={p}"));
            format!("{}{}?{}", self.base, req.path, q.join("&"))
        };
        let mut pages = serde_json::Map::new();
        if page > 1 {
            pages.insert("first".into(), json!(link(1)));
            pages.insert("prev".into(), json!(link(page - 1)));
        }
        if page < last {
            pages.insert("next".into(), json!(link(page + 1)));
            pages.insert("last".into(), json!(link(last)));
        }
        let links = if pages.is_empty() {
            json!({})
        } else {
            json!({ "pages": pages })
        };
        reply(200, json!({ key: slice, "links": links, "meta": {"total": total} }))
    }

    fn list_droplets(&mut self, req: &Incoming) -> Reply {
        let pg = match self.check_query(req, &["tag_name", "name", "type"]) {
            Ok(p) => p,
            Err(r) => return r,
        };
        if req.param("tag_name").is_some() && (req.param("name").is_some() || req.param("type").is_some()) {
            return self.violation(req, "tag_name cannot be combined with name or type".into());
        }
        let items: Vec<Value> = self
            .droplets
            .iter()
            .filter(|d| {
                req.param("tag_name")
                    .is_none_or(|t| d["tags"].as_array().unwrap().iter().any(|x| x == t))
                    && req
                        .param("name")
                        .is_none_or(|n| d["name"].as_str().unwrap().eq_ignore_ascii_case(n))
            })
            .cloned()
            .collect();
        self.page(req, "droplets", items, pg)
    }

    fn create_droplet(&mut self, req: &Incoming, body: &Value) -> Reply {
        const KEYS: &[&str] = &[
            "name",
            "names",
            "size",
            "image",
            "region",
            "ssh_keys",
            "backups",
            "backup_policy",
            "ipv6",
            "monitoring",
            "tags",
            "user_data",
            "private_networking",
            "volumes",
            "vpc_uuid",
            "with_droplet_agent",
            "public_networking",
        ];
        let Some(obj) = body.as_object() else {
            return self.violation(req, "body must be a JSON object".into());
        };
        if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return self.violation(req, format!("unknown field `{k}`"));
        }
        let Some(name) = body["name"].as_str() else {
            return self.violation(
                req,
                "`name` (string) is required (this client creates one droplet at a time)".into(),
            );
        };
        if !valid_name(name) {
            return self.violation(req, format!("`name` {name:?} does not match the documented pattern"));
        }
        if !body["size"].is_string() {
            return self.violation(req, "`size` (string) is required".into());
        }
        if !(body["image"].is_string() || body["image"].is_i64()) {
            return self.violation(req, "`image` (string or integer) is required".into());
        }
        for k in ["region", "user_data", "vpc_uuid"] {
            if obj.contains_key(k) && !body[k].is_string() {
                return self.violation(req, format!("`{k}` must be a string"));
            }
        }
        for k in ["backups", "ipv6", "monitoring"] {
            if obj.contains_key(k) && !body[k].is_boolean() {
                return self.violation(req, format!("`{k}` must be a boolean"));
            }
        }
        let tags: Vec<String> = match &body["tags"] {
            Value::Null => vec![],
            Value::Array(a) if a.iter().all(|t| t.as_str().is_some_and(valid_tag)) => {
                a.iter().map(|t| t.as_str().unwrap().to_string()).collect()
            }
            _ => return self.violation(req, "`tags` must be tag names (letters, digits, `:-_`)".into()),
        };
        match &body["ssh_keys"] {
            Value::Null => {}
            Value::Array(a) if a.iter().all(|k| k.is_i64() || k.is_string()) => {
                for k in a {
                    let known = self
                        .ssh_keys
                        .iter()
                        .any(|x| x["_pending"].is_null() && (x["id"] == *k || x["fingerprint"] == *k));
                    if !known {
                        return error(422, "unprocessable_entity", &format!("ssh key {k} not found"));
                    }
                }
            }
            _ => return self.violation(req, "`ssh_keys` must be key ids or fingerprints".into()),
        }
        let size = body["size"].as_str().unwrap();
        let template = example("droplets_get.200.single-droplet.json")["droplet"].clone();
        let size_object = self.sizes.iter().find(|s| s["slug"] == size).cloned();
        let Some(size_object) = size_object.filter(|_| {
            template["region"]["sizes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == size)
        }) else {
            return error(422, "unprocessable_entity", &format!("{size} is not a valid size slug"));
        };
        let image = match &body["image"] {
            Value::Number(n) => match self.snapshots.iter().find(|s| s["id"] == json!(n)) {
                Some(s) => json!({"id": n, "name": s["name"], "slug": null, "public": false, "type": "snapshot"}),
                None => {
                    return error(
                        422,
                        "unprocessable_entity",
                        "You specified an invalid image for Droplet creation.",
                    );
                }
            },
            slug => json!({"slug": slug}),
        };
        let id = self.id();
        let mut d = template;
        let n = self.droplets.len() + 10;
        d["id"] = json!(id);
        d["name"] = json!(name);
        d["status"] = json!("new");
        d["locked"] = json!(false);
        d["tags"] = json!(tags);
        d["size_slug"] = json!(size);
        for k in ["memory", "vcpus", "disk"] {
            d[k] = size_object[k].clone();
        }
        d["disk_info"][0]["size"]["amount"] = size_object["disk"].clone();
        for (k, v) in size_object.as_object().unwrap() {
            d["size"][k] = v.clone();
        }
        d["snapshot_ids"] = json!([]);
        d["backup_ids"] = json!([]);
        for (k, v) in image.as_object().unwrap() {
            d["image"][k] = v.clone();
        }
        if let Some(r) = body["region"].as_str() {
            d["region"]["slug"] = json!(r);
        }
        if let Some(v) = body["vpc_uuid"].as_str() {
            d["vpc_uuid"] = json!(v);
        }
        d["networks"] = json!({"v4": [], "v6": []});
        // Kept aside until the droplet becomes active (see `tick_droplet`).
        d["_polls"] = json!(self.polls);
        d["_networks"] = json!({"v4": [
            {"ip_address": format!("10.110.0.{n}"), "netmask": "255.255.240.0", "gateway": "nil", "type": "private"},
            {"ip_address": format!("203.0.113.{n}"), "netmask": "255.255.255.0", "gateway": "203.0.113.1", "type": "public"},
        ], "v6": []});
        self.droplets.push(d.clone());
        let action = self.new_action("create", id);
        let mut resp = example("droplets_create.202.single-droplet-create-response.json");
        resp["droplet"] = public(&d);
        resp["links"]["actions"] =
            json!([{"id": action, "rel": "create", "href": format!("{}/v2/actions/{action}", self.base)}]);
        reply(202, resp)
    }

    fn new_action(&mut self, kind: &str, droplet: i64) -> i64 {
        let id = self.id();
        let mut a = example("actions_get.200.assembled.json")["action"].clone();
        a["id"] = json!(id);
        a["status"] = json!("in-progress");
        a["type"] = json!(kind);
        a["resource_id"] = json!(droplet);
        a["completed_at"] = Value::Null;
        self.actions.push(Action {
            json: a,
            polls_left: self.polls,
            done: false,
        });
        id
    }

    fn droplet_index(&self, id: &str) -> Option<usize> {
        self.droplets.iter().position(|d| same_id(&d["id"], id))
    }

    fn not_found() -> Reply {
        reply(404, example("droplets_get.404.json"))
    }

    fn get_droplet(&mut self, _req: &Incoming, id: &str) -> Reply {
        let Some(i) = self.droplet_index(id) else {
            return Self::not_found();
        };
        let d = &mut self.droplets[i];
        let polls = d["_polls"].as_u64().unwrap_or(0);
        if polls > 0 {
            d["_polls"] = json!(polls - 1);
        } else if d["status"] == "new" {
            d["status"] = json!("active");
            d["networks"] = d["_networks"].clone();
        }
        reply(200, json!({"droplet": public(d)}))
    }

    fn delete_droplet(&mut self, _req: &Incoming, id: &str) -> Reply {
        match self.droplet_index(id) {
            Some(i) => {
                self.droplets.remove(i);
                reply(204, Value::Null)
            }
            None => Self::not_found(),
        }
    }

    /// `DELETE /v2/snapshots/{id}`: 204, or 404 for an unknown id.
    fn delete_snapshot(&mut self, _req: &Incoming, id: &str) -> Reply {
        match self.snapshots.iter().position(|s| same_id(&s["id"], id)) {
            Some(i) => {
                self.snapshots.remove(i);
                reply(204, Value::Null)
            }
            None => Self::not_found(),
        }
    }

    fn post_action(&mut self, req: &Incoming, id: &str, body: &Value) -> Reply {
        const TYPES: &[&str] = &[
            "enable_backups",
            "disable_backups",
            "reboot",
            "power_cycle",
            "shutdown",
            "power_off",
            "power_on",
            "restore",
            "password_reset",
            "resize",
            "rebuild",
            "rename",
            "change_kernel",
            "enable_ipv6",
            "snapshot",
            "change_backup_policy",
        ];
        let Some(kind) = body["type"].as_str().filter(|t| TYPES.contains(t)) else {
            return self.violation(
                req,
                format!(
                    "`type` must be one of the documented action types, got {}",
                    body["type"]
                ),
            );
        };
        let allowed: &[&str] = if kind == "snapshot" {
            &["type", "name"]
        } else {
            &["type"]
        };
        if let Some(k) = body
            .as_object()
            .unwrap()
            .keys()
            .find(|k| !allowed.contains(&k.as_str()))
        {
            return self.violation(req, format!("unexpected field `{k}` for a {kind} action"));
        }
        let Some(i) = self.droplet_index(id) else {
            return Self::not_found();
        };
        if self.droplets[i]["locked"] == json!(true) {
            return error(422, "unprocessable_entity", "Droplet already has a pending event.");
        }
        self.droplets[i]["locked"] = json!(true);
        let droplet_id = self.droplets[i]["id"].as_i64().unwrap();
        let a = self.new_action(kind, droplet_id);
        if let Some(n) = body["name"].as_str() {
            self.actions.last_mut().unwrap().json["_name"] = json!(n);
        }
        let mut resp = example("dropletActions_post.201.assembled.json");
        resp["action"] = public(&self.action(a).unwrap().json);
        reply(201, resp)
    }

    fn action(&mut self, id: i64) -> Option<&mut Action> {
        self.actions.iter_mut().find(|a| a.json["id"] == json!(id))
    }

    fn get_action(&mut self, _req: &Incoming, id: &str) -> Reply {
        let Ok(id) = id.parse::<i64>() else {
            return Self::not_found();
        };
        let stuck = self.stuck_actions.clone();
        let Some(a) = self.action(id) else {
            return Self::not_found();
        };
        let stuck = a.json["type"].as_str().is_some_and(|t| stuck.contains(t));
        if a.polls_left > 0 || stuck {
            a.polls_left = a.polls_left.saturating_sub(1);
            return reply(200, json!({"action": public(&a.json)}));
        }
        self.complete(id);
        let a = self.action(id).unwrap();
        reply(200, json!({"action": public(&a.json)}))
    }

    /// Ends every action still in progress, as time passing would (stuck ones too).
    pub fn finish_actions(&mut self) {
        self.stuck_actions.clear();
        let ids: Vec<i64> = self
            .actions
            .iter()
            .filter(|a| !a.done)
            .map(|a| a.json["id"].as_i64().unwrap())
            .collect();
        for id in ids {
            self.complete(id);
        }
    }

    /// An action completes (or errors, for `error_actions`) and has its effect.
    fn complete(&mut self, id: i64) {
        let errored = self.error_actions.clone();
        let a = self.action(id).unwrap();
        if !a.done {
            a.done = true;
            let kind = a.json["type"].as_str().unwrap().to_string();
            let ok = !errored.contains(&kind);
            a.json["status"] = json!(if ok { "completed" } else { "errored" });
            a.json["completed_at"] = json!("2020-11-14T16:30:06Z");
            let (droplet, name) = (a.json["resource_id"].clone(), a.json["_name"].clone());
            let snapshot_id = self.id();
            if let Some(i) = self.droplets.iter().position(|d| d["id"] == droplet) {
                let d = &mut self.droplets[i];
                d["locked"] = json!(false);
                match (kind.as_str(), ok) {
                    ("shutdown" | "power_off", true) => d["status"] = json!("off"),
                    ("power_on", true) => d["status"] = json!("active"),
                    ("snapshot", true) => {
                        let name = name
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| format!("{}-snapshot", d["name"].as_str().unwrap()));
                        d["snapshot_ids"].as_array_mut().unwrap().push(json!(snapshot_id));
                        let created = format!("2020-07-28T16:{:02}:44Z", self.snapshots.len() % 60);
                        let (gigabytes, disk) = (self.snapshot_gigabytes.clone(), d["disk"].clone());
                        self.snapshots
                            .push(json!({"id": snapshot_id, "name": name, "droplet_id": droplet,
                            "created_at": created, "size_gigabytes": gigabytes, "min_disk_size": disk}));
                    }
                    _ => {}
                }
            }
        }
    }

    fn droplet_snapshots(&mut self, req: &Incoming, id: &str) -> Reply {
        let pg = match self.check_query(req, &[]) {
            Ok(p) => p,
            Err(r) => return r,
        };
        if self.droplet_index(id).is_none() {
            return Self::not_found();
        }
        let template = example("droplets_list_snapshots.200.json")["snapshots"][0].clone();
        let items = self
            .snapshots
            .iter()
            .filter(|s| same_id(&s["droplet_id"], id))
            .map(|s| {
                let mut t = template.clone();
                t["id"] = s["id"].clone();
                t["name"] = s["name"].clone();
                t["created_at"] = s["created_at"].clone();
                t["size_gigabytes"] = s["size_gigabytes"].clone();
                t["min_disk_size"] = s["min_disk_size"].clone();
                t
            })
            .collect();
        self.page(req, "snapshots", items, pg)
    }

    fn list_sizes(&mut self, req: &Incoming) -> Reply {
        let pg = match self.check_query(req, &[]) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let items = self.sizes.clone();
        self.page(req, "sizes", items, pg)
    }

    fn list_snapshots(&mut self, req: &Incoming) -> Reply {
        let pg = match self.check_query(req, &["resource_type"]) {
            Ok(p) => p,
            Err(r) => return r,
        };
        if req
            .param("resource_type")
            .is_some_and(|t| t != "droplet" && t != "volume")
        {
            return self.violation(req, "resource_type must be droplet or volume".into());
        }
        let template = example("snapshots_list.200.droplets-snapshots.json")["snapshots"][0].clone();
        let items = if req.param("resource_type") == Some("volume") {
            vec![]
        } else {
            self.snapshots
                .iter()
                .map(|s| {
                    let mut t = template.clone();
                    // This endpoint spells ids as strings.
                    t["id"] = json!(s["id"].to_string());
                    t["name"] = s["name"].clone();
                    t["created_at"] = s["created_at"].clone();
                    t["resource_id"] = json!(s["droplet_id"].to_string());
                    t["size_gigabytes"] = s["size_gigabytes"].clone();
                    t["min_disk_size"] = s["min_disk_size"].clone();
                    t
                })
                .collect()
        };
        self.page(req, "snapshots", items, pg)
    }

    fn get_image(&mut self, _req: &Incoming, id: &str) -> Reply {
        let mut img = example("images_get.200.json");
        match self.snapshots.iter().find(|s| same_id(&s["id"], id)) {
            Some(s) => {
                img["image"]["id"] = s["id"].clone();
                img["image"]["name"] = s["name"].clone();
                img["image"]["slug"] = Value::Null;
                img["image"]["public"] = json!(false);
                img["image"]["type"] = json!("snapshot");
                reply(200, img)
            }
            None if img["image"]["slug"] == id => reply(200, img),
            None => Self::not_found(),
        }
    }

    fn get_key(&mut self, _req: &Incoming, id: &str) -> Reply {
        let registered = |k: &&Value| k["_pending"].is_null() && (same_id(&k["id"], id) || k["fingerprint"] == id);
        match self.ssh_keys.iter().find(registered) {
            Some(k) => reply(200, json!({"ssh_key": k})),
            None => Self::not_found(),
        }
    }

    /// The fake cannot compute MD5 fingerprints itself; tests register the fingerprint a
    /// key must have with `expect_key`, and an unknown key is a violation.
    fn create_key(&mut self, req: &Incoming, body: &Value) -> Reply {
        let (Some(name), Some(pk)) = (body["name"].as_str(), body["public_key"].as_str()) else {
            return self.violation(req, "`name` and `public_key` are required".into());
        };
        if body.as_object().unwrap().len() != 2 {
            return self.violation(req, "only `name` and `public_key` may be sent".into());
        }
        let Some(i) = self
            .ssh_keys
            .iter()
            .position(|k| k["public_key"] == pk && k["_pending"] == json!(true))
        else {
            return self.violation(req, format!("unexpected key {pk:?}"));
        };
        let mut k = example("sshKeys_create.201.assembled.json")["ssh_key"].clone();
        k["id"] = json!(self.next_id + 1);
        self.next_id += 1;
        k["name"] = json!(name);
        k["public_key"] = json!(pk);
        k["fingerprint"] = self.ssh_keys[i]["fingerprint"].clone();
        self.ssh_keys[i] = k.clone();
        reply(201, json!({"ssh_key": k}))
    }

    fn list_tags(&mut self, req: &Incoming) -> Reply {
        let pg = match self.check_query(req, &[]) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let template = example("tags_create.201.json")["tag"].clone();
        let items = self
            .tags
            .iter()
            .map(|t| {
                let mut x = template.clone();
                x["name"] = json!(t);
                x
            })
            .collect();
        self.page(req, "tags", items, pg)
    }

    fn create_tag(&mut self, req: &Incoming, body: &Value) -> Reply {
        match body["name"].as_str() {
            Some(t) if valid_tag(t) && body.as_object().unwrap().len() == 1 => {
                if !self.tags.iter().any(|x| x == t) {
                    self.tags.push(t.to_string());
                }
                let mut resp = example("tags_create.201.json");
                resp["tag"]["name"] = json!(t);
                reply(201, resp)
            }
            _ => {
                self.violations
                    .push(format!("{}: invalid tag body {body}", req.target()));
                reply(400, example("tags_create.400.invalidcharacters.json"))
            }
        }
    }

    fn tag_resources(&mut self, req: &Incoming, tag: &str, body: &Value) -> Reply {
        let tag = super::http::decode(tag);
        if !self.tags.contains(&tag) {
            return Self::not_found();
        }
        let Some(res) = body["resources"].as_array().filter(|a| !a.is_empty()) else {
            return self.violation(req, "`resources` (array) is required".into());
        };
        for r in res {
            let (Some(id), Some("droplet")) = (r["resource_id"].as_str(), r["resource_type"].as_str()) else {
                return self.violation(
                    req,
                    format!("resource {r} needs resource_id (string) and resource_type"),
                );
            };
            let Some(i) = self.droplet_index(id) else {
                return Self::not_found();
            };
            let tags = self.droplets[i]["tags"].as_array_mut().unwrap();
            if !tags.contains(&json!(tag)) {
                tags.push(json!(tag));
            }
        }
        reply(204, Value::Null)
    }

    fn zone_ok(&self, zone: &str) -> bool {
        self.domains.iter().any(|d| d == zone)
    }

    fn list_records(&mut self, req: &Incoming, zone: &str) -> Reply {
        let pg = match self.check_query(req, &["name", "type"]) {
            Ok(p) => p,
            Err(r) => return r,
        };
        if !self.zone_ok(zone) {
            return Self::not_found();
        }
        // Documented quirk: the filter takes the fully qualified name, records carry the
        // relative one (`www`, `@`).
        let wanted = match req.param("name") {
            Some(n) if n == zone => Some("@".to_string()),
            Some(n) => match n.strip_suffix(&format!(".{zone}")) {
                Some(rel) => Some(rel.to_string()),
                None => return self.violation(req, format!("`name` must be fully qualified, got {n:?}")),
            },
            None => None,
        };
        let items = self
            .records
            .iter()
            .filter(|(z, r)| {
                z == zone
                    && wanted.as_ref().is_none_or(|w| r["name"] == json!(w))
                    && req.param("type").is_none_or(|t| r["type"] == t)
            })
            .map(|(_, r)| r.clone())
            .collect();
        self.page(req, "domain_records", items, pg)
    }

    fn create_record(&mut self, req: &Incoming, zone: &str, body: &Value) -> Reply {
        const KEYS: &[&str] = &[
            "type", "name", "data", "priority", "port", "ttl", "weight", "flags", "tag",
        ];
        if let Some(k) = body
            .as_object()
            .and_then(|o| o.keys().find(|k| !KEYS.contains(&k.as_str())))
        {
            return self.violation(req, format!("unknown field `{k}`"));
        }
        let (Some("A"), Some(name), Some(data)) = (body["type"].as_str(), body["name"].as_str(), body["data"].as_str())
        else {
            return self.violation(req, "an A record needs `type`, `name` and `data`".into());
        };
        if data.parse::<std::net::Ipv4Addr>().is_err() {
            return self.violation(req, format!("`data` {data:?} is not an IPv4 address"));
        }
        if name.ends_with(zone) {
            return self.violation(req, format!("record `name` is relative to the zone, got {name:?}"));
        }
        if !body["ttl"].is_null() && !body["ttl"].is_u64() {
            return self.violation(req, "`ttl` must be an integer".into());
        }
        if !self.zone_ok(zone) {
            return Self::not_found();
        }
        let mut r = example("domains_create_record.201.json")["domain_record"].clone();
        r["id"] = json!(self.id());
        r["name"] = json!(name);
        r["data"] = json!(data);
        r["ttl"] = if body["ttl"].is_null() {
            json!(1800)
        } else {
            body["ttl"].clone()
        };
        self.records.push((zone.to_string(), r.clone()));
        reply(201, json!({"domain_record": r}))
    }

    fn update_record(&mut self, req: &Incoming, zone: &str, id: &str, body: &Value) -> Reply {
        if !body["type"].is_string() {
            return self.violation(req, "`type` is required".into());
        }
        let Some((_, r)) = self
            .records
            .iter_mut()
            .find(|(z, r)| z == zone && same_id(&r["id"], id))
        else {
            return Self::not_found();
        };
        for (k, v) in body.as_object().unwrap() {
            r[k] = v.clone();
        }
        reply(200, json!({"domain_record": r.clone()}))
    }

    /// `DELETE /v2/domains/{zone}/records/{id}`: no body; 204, or 404 for a record that
    /// is not (or no longer) there.
    fn delete_record(&mut self, req: &Incoming, zone: &str, id: &str) -> Reply {
        if !req.body.is_empty() {
            return self.violation(req, "a DELETE has no body".into());
        }
        if !self.zone_ok(zone) {
            return Self::not_found();
        }
        match self
            .records
            .iter()
            .position(|(z, r)| z == zone && same_id(&r["id"], id))
        {
            Some(i) => {
                self.records.remove(i);
                reply(204, Value::Null)
            }
            None => Self::not_found(),
        }
    }

    /// A key the client may register, with the fingerprint `ssh-keygen -E md5` gives it.
    pub fn expect_key(&mut self, public_key: &str, fingerprint: &str) {
        self.ssh_keys
            .push(json!({"public_key": public_key, "fingerprint": fingerprint, "_pending": true, "id": -1}));
    }

    /// A size besides the documented example's, shaped like it.
    pub fn add_size(&mut self, slug: &str, vcpus: u32, memory: u32, disk: u32, price_monthly: f64) {
        let mut s = self.sizes[0].clone();
        s["slug"] = json!(slug);
        s["vcpus"] = json!(vcpus);
        s["memory"] = json!(memory);
        s["disk"] = json!(disk);
        s["price_monthly"] = json!(price_monthly);
        s["price_hourly"] = json!(price_monthly / 672.0);
        self.sizes.push(s);
    }

    /// A droplet made outside the client (an existing server).
    pub fn add_droplet(&mut self, name: &str, tags: &[&str]) -> i64 {
        let id = self.id();
        let mut d = example("droplets_get.200.single-droplet.json")["droplet"].clone();
        d["id"] = json!(id);
        d["name"] = json!(name);
        d["tags"] = json!(tags);
        self.droplets.push(d);
        id
    }
}

/// Ids are integers in bodies and text in paths.
fn same_id(v: &Value, id: &str) -> bool {
    v.as_i64().is_some() && v.as_i64() == id.parse().ok()
}

/// The object without the fake's own bookkeeping fields (`_…`).
fn public(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.retain(|k, _| !k.starts_with('_'));
    }
    v
}
