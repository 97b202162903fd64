"""`warc2gpt blocklist`: which URL blocklist curate uses; `install` puts FineWeb's in the cache.

Without an action: the domain and URL lists `curate.url_filter` resolves to (FineWeb's, the
package's sample domains, none, or your own files), where they were found and how many entries
they hold, and every place FineWeb's list was looked for. `install PATH_OR_URL` copies FineWeb's
list (domains.part00.gz .. part06.gz and urls.gz) from a folder, or downloads it from a URL
where a network exists, into the user cache, refusing files whose sha256 is not FineWeb's.
"""

from __future__ import annotations

import argparse
import logging
import sys

from warc2gpt.cli import add_params_options, command_parser, params_from_args


def register(sub: argparse._SubParsersAction) -> None:
    parser = command_parser(sub, "blocklist", __doc__)
    add_params_options(parser)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    install = actions.add_parser(
        "install",
        help="copy or download FineWeb's URL blocklist into the cache, checking its sha256",
        description="Copy FineWeb's URL blocklist (domains.part00.gz .. part06.gz, urls.gz) "
        "from a folder, or download it from a URL prefix, into $XDG_CACHE_HOME/warc2gpt/"
        "blocklists; every file must match its published sha256 or nothing is installed.",
    )
    install.add_argument("source", metavar="PATH_OR_URL", help="folder or URL holding the files")
    parser.set_defaults(func=run_show)
    install.set_defaults(func=run_install)


def run_show(args: argparse.Namespace) -> int:
    from warc2gpt.curate.blocklists import FINEWEB_TITLE, find_fineweb
    from warc2gpt.curate.steps.url_filter import blocked_lists, blocklist_report

    settings = params_from_args(args, "curate").curate.url_filter
    logger = logging.getLogger("warc2gpt.curate.blocklists")
    level = logger.level
    logger.setLevel(logging.ERROR)  # its warnings are printed below, once
    try:
        report = blocklist_report(settings)
        places = find_fineweb()[1]
    finally:
        logger.setLevel(level)
    what = {
        "fineweb": FINEWEB_TITLE + " and the package's sample domains",
        "builtin": "the package's sample domains only (invented names, not a real blocklist)",
        "none": "no domain or URL list",
        "custom": "curate.url_filter.domain_files / url_files",
    }[report["blocklist"]]
    print(f"blocklist  {report['blocklist']}: {what}")
    print(f"setting    curate.url_filter.blocklist: {settings.blocklist}")
    if not settings.enabled:
        print("           (curate.url_filter.enabled is false: no URL filtering at all)")
    print(f"source     {report['source'] or '-'}")
    print(f"domains    {report['domains']:,}")
    print(f"urls       {report['urls']:,}")
    if settings.enabled:
        lists = blocked_lists(settings)
        indexes = [str(s.index) for s in (lists.domains, lists.urls) if s.index is not None]
        print(f"index      {', '.join(indexes) or '- (small lists, hashed on load)'}")
    print("FineWeb's list is looked for in, in order:")
    for number, place in enumerate(places, 1):
        print(f"  {number}. {place.label}: {place.folder or '-'} [{place.status}]")
    if report["warning"]:
        print(f"warning: {report['warning']}", file=sys.stderr)
    return 0


def run_install(args: argparse.Namespace) -> int:
    from warc2gpt.curate.blocklists import BlocklistError, install_fineweb

    try:
        folder = install_fineweb(args.source)
    except (BlocklistError, OSError) as exc:
        print(f"warc2gpt blocklist install: {exc}", file=sys.stderr)
        return 1
    print(f"installed FineWeb's URL blocklist in {folder}")
    return run_show(args)
