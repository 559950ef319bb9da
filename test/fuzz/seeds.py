#!/usr/bin/env python3
"""Builds the fuzzers' seed corpus from the repository's own SQL: every
dollar-quoted body ($$...$$, $tag$...$tag$) and every string literal that
is a script ('ALTER TABLE ...', E'...\n...': what the tests hand lint(),
plan() and apply()) in the pg_regress inputs, the pgTAP suites, the
integration scripts and the README, each whole pg_regress input, and a
dictionary of the server's SQL keywords (given on stdin, one a line).

    seeds.py REPO_ROOT CORPUS_DIR DICT_FILE < keywords
"""
import glob
import hashlib
import os
import re
import sys

root, corpus, dict_file = sys.argv[1:4]
os.makedirs(corpus, exist_ok=True)
paths = (glob.glob(os.path.join(root, "sql", "*.sql")) + glob.glob(os.path.join(root, "test", "pgtap", "*.sql"))
         + glob.glob(os.path.join(root, "test", "integration", "*.sh")) + glob.glob(os.path.join(root, "test", "bench", "*.sh"))
         + [os.path.join(root, "README.md")])
seeds = set()
SCRIPT = re.compile(r"\s*(CREATE|ALTER|DROP|TRUNCATE|DELETE|UPDATE|INSERT|COMMENT|GRANT|REVOKE|REINDEX|VACUUM|"
                    r"CLUSTER|SET|RESET|BEGIN|COMMIT|SELECT|REFRESH|LOCK|ANALYZE|CALL|DO)\b", re.I)
for path in paths:
    if os.path.basename(path).startswith("migrate_ops--"):
        continue
    text = open(path, encoding="utf-8", errors="replace").read()
    for m in re.finditer(r"(\$[A-Za-z_]*\$)(.*?)\1", text, re.S):
        body = m.group(2).strip()
        if 3 < len(body) <= 4096:
            seeds.add(body)
    # literals line by line, after the line's comment (an apostrophe in prose would misalign them)
    lines = (re.sub(r"^((?:[^'-]|'[^']*'|-(?!-))*)--.*$", r"\1", line) for line in text.splitlines())
    for m in (m for line in lines for m in re.finditer(r"(\b[Ee])?'((?:[^']|'')*)'", line)):
        body = m.group(2).replace("''", "'")
        if m.group(1):
            body = body.replace("\\n", "\n").replace("\\t", "\t")
        if SCRIPT.match(body) and 8 < len(body) <= 4096:
            seeds.add(body.strip())
    if path.endswith(".sql") and "/sql/" in path and len(text) <= 16384:
        seeds.add(text)
for s in seeds:
    data = s.encode()
    with open(os.path.join(corpus, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)
with open(dict_file, "w") as f:
    for word in sorted({w.strip() for w in sys.stdin if w.strip()}):
        f.write('"%s"\n' % word.upper())
    for tok in [";", "(", ")", ",", "'", "$$", "::", "--", "/*", "*/", "E'", "U&'", "\\x0a"]:
        f.write('"%s"\n' % tok)
print(f"{len(seeds)} seeds")
