#!/usr/bin/env bash
# META.json is valid PGXN meta-spec 1.0.0 and agrees with migrate_ops.control
# and with what the build installs.
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"
cd "$MO_ROOT"
python3 - <<'PY' || exit 1
import json, re, os, sys

def fail(msg):
    print("not ok - META.json: " + msg); sys.exit(1)

meta = json.load(open("META.json"))
control = dict(re.findall(r"^(\w+)\s*=\s*'?(.*?)'?\s*$", open("migrate_ops.control").read(), re.M))
semver = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+)?$")

for key in ("name", "abstract", "maintainer", "version", "license", "provides", "meta-spec"):
    if key not in meta: fail("missing required key " + key)
if meta["meta-spec"].get("version") != "1.0.0": fail("meta-spec version is not 1.0.0")
if not re.match(r"^[A-Za-z][A-Za-z0-9_-]*$", meta["name"]): fail("bad name")
if not semver.match(meta["version"]): fail("version is not semver")
if not isinstance(meta["maintainer"], (str, list)) or not meta["maintainer"]: fail("bad maintainer")
licenses = {"agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd", "freebsd", "gfdl_1_2",
            "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1", "lgpl_3_0", "mit", "mozilla_1_0", "mozilla_1_1",
            "openssl", "perl_5", "postgresql", "qpl_1_0", "ssleay", "sun", "zlib", "open_source",
            "restricted", "unrestricted", "unknown"}
lic = meta["license"]
if isinstance(lic, str) and lic not in licenses: fail("unknown license " + lic)
for ext, p in meta["provides"].items():
    for key in ("file", "version"):
        if key not in p: fail(f"provides.{ext} lacks {key}")
    if not semver.match(p["version"]): fail(f"provides.{ext}.version is not semver")
    if not os.path.exists(p["file"]): fail(f"provides.{ext}.file {p['file']} does not exist after the build")
    if "docfile" in p and not os.path.exists(p["docfile"]): fail(f"provides.{ext}.docfile missing")
phases, relations = {"configure", "build", "test", "runtime", "develop"}, {"requires", "recommends", "suggests", "conflicts"}
for phase, rels in meta.get("prereqs", {}).items():
    if phase not in phases: fail("unknown prereq phase " + phase)
    for rel, deps in rels.items():
        if rel not in relations: fail("unknown prereq relation " + rel)
        for dep, ver in deps.items():
            if not (ver == 0 or re.match(r"^[<>=!]*\s*\d+\.\d+\.\d+$", str(ver))): fail(f"bad version for {dep}")
if "PostgreSQL" not in meta["prereqs"]["runtime"]["requires"]: fail("PostgreSQL is not a runtime prereq")
if "libcurl" not in meta["prereqs"]["runtime"]["requires"]: fail("libcurl is not a runtime prereq")
for key in meta.get("resources", {}):
    if key not in ("homepage", "bugtracker", "repository"): fail("unknown resource " + key)
if not all(isinstance(t, str) for t in meta.get("tags", [])): fail("tags must be strings")

v = control["default_version"]
if meta["provides"]["migrate_ops"]["version"] != v: fail("provides.migrate_ops.version != control default_version " + v)
if meta["version"] != v: fail("version != control default_version " + v)
if meta["provides"]["migrate_ops"]["file"] != f"sql/migrate_ops--{v}.sql": fail("provides file is not the current install script")
print(f"ok - META.json is valid meta-spec 1.0.0 and agrees with migrate_ops.control (version {v})")
PY
