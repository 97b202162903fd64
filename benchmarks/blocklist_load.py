"""What FineWeb's 4.56 M-domain URL blocklist costs a curate run: cold build, warm load, memory,
lookups per second.

    python benchmarks/blocklist_load.py [--list DIR] [--repeat 3]

Each load runs in a fresh process with an empty cache folder of its own ($XDG_CACHE_HOME in a
temporary directory), as a curate run or a worker meets it: the first one checks the sha256 of
the files and builds the hash index (once per install), the later ones memory-map the index.
The list comes from DIR (default ../shared/data/blocklists/datatrove_url_filter_v0_3_0) through
$WARC2GPT_BLOCKLIST_DIR. Lookups are timed on the URLs of the ~1,000 real pages in
../shared/data/html/trafilatura_evaldata.json and on listed domains' sub-domains.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared/data"
DEFAULT_LIST = SHARED / "blocklists/datatrove_url_filter_v0_3_0"
PAGE_URLS = SHARED / "html/trafilatura_evaldata.json"

# Runs in a fresh process: load the default URL filter, report time and memory as JSON. The
# imports come first, as in a curate run, so the figures are the list's own.
LOAD = """
import json, resource, time
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() / 2**20
import warc2gpt.curate.blocklists  # numpy, pyarrow: a curate run has them loaded already
from warc2gpt.curate.steps.url_filter import URLFilter, UrlFilterSettings
before = rss()
start = time.perf_counter()
url_filter = URLFilter(UrlFilterSettings())
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rss_mb": rss() - before, "report": url_filter.report,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def load_in_fresh_process(env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", LOAD], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def lookup_rates(list_dir: Path, env: dict[str, str]) -> list[tuple[str, int, float]]:
    """(what, lookups, per second) in this process, with the index the loads built."""
    import time

    os.environ.update(env)
    from warc2gpt.curate.blocklists import file_lines
    from warc2gpt.curate.steps.url_filter import URLFilter, UrlFilterSettings
    from warc2gpt.documents import Document

    url_filter = URLFilter(UrlFilterSettings())
    listed = file_lines(list_dir / "domains.part03.gz")[:50_000]
    absent = [b"not-listed-" + d for d in listed]
    urls = list(json.loads(PAGE_URLS.read_text(encoding="utf-8"))) if PAGE_URLS.exists() else []
    docs = [Document(id="x", url=u, text="") for u in urls * max(1, 20_000 // max(len(urls), 1))]
    subdomains = [Document(id="x", url=f"https://cdn.{d.decode()}/a", text="") for d in listed]
    rows = []
    for what, run, n in (
        ("HashSet: listed domains", lambda: sum(d in url_filter.domains for d in listed), 50_000),
        ("HashSet: absent domains", lambda: sum(d in url_filter.domains for d in absent), 50_000),
        ("URLFilter: real page URLs", lambda: [url_filter(d) for d in docs], len(docs)),
        ("URLFilter: listed sub-domains", lambda: [url_filter(d) for d in subdomains], 50_000),
    ):
        if not n:
            continue
        start = time.perf_counter()
        run()
        rows.append((what, n, n / (time.perf_counter() - start)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", type=Path, default=DEFAULT_LIST, help="FineWeb's list folder")
    parser.add_argument("--repeat", type=int, default=3, help="warm loads; the best counts")
    args = parser.parse_args()
    if not (args.list / "domains.part00.gz").is_file():
        raise SystemExit(f"FineWeb's list not found in {args.list}: pass --list DIR")

    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "XDG_CACHE_HOME": cache, "WARC2GPT_BLOCKLIST_DIR": str(args.list)}
        cold = load_in_fresh_process(env)
        warm = [load_in_fresh_process(env) for _ in range(args.repeat)]
        best = min(warm, key=lambda r: r["seconds"])
        index_mb = sum(p.stat().st_size for p in Path(cache).rglob("*.npy")) / 2**20
        rates = lookup_rates(args.list, env)

    report = cold["report"]
    print(
        f"list: {report['source']} ({report['blocklist']}), {report['domains']:,} domains, "
        f"{report['urls']:,} URLs; index {index_mb:.1f} MB"
    )
    print(f"{'load (fresh process)':<40}{'seconds':>10}{'RSS added MB':>14}{'peak RSS MB':>13}")
    for what, row in (
        ("cold: sha256 check + index build", cold),
        (f"warm: index memory-mapped (best of {len(warm)})", best),
    ):
        print(f"{what:<40}{row['seconds']:>10.3f}{row['rss_mb']:>14.1f}{row['peak_mb']:>13.0f}")
    print(f"\n{'lookups (one process)':<40}{'count':>10}{'per second':>14}")
    for what, n, rate in rates:
        print(f"{what:<40}{n:>10,}{rate:>14,.0f}")


if __name__ == "__main__":
    main()
