// A minimal, dependency-free stand-in for the add-on app: GET / answers "APP VERSION",
// GET /healthcheck answers 200 "ok". The version is the VERSION file the release playbook
// writes before packing (else package.json's).
const http = require("http");
const fs = require("fs");
const path = require("path");

const pkg = require("./package.json");
let version = pkg.version;
try {
  version = fs.readFileSync(path.join(__dirname, "VERSION"), "utf8").trim();
} catch (_) {}
const port = Number(process.env.PORT || 3000);

http
  .createServer((req, res) => {
    if (req.url === "/healthcheck") {
      res.writeHead(200, { "content-type": "text/plain" });
      return res.end("ok\n");
    }
    if (req.url === "/") {
      res.writeHead(200, { "content-type": "text/plain" });
      return res.end(`${pkg.name} ${version}\n`);
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found\n");
  })
  .listen(port, () => console.log(`${pkg.name} ${version} listening on ${port}`));
