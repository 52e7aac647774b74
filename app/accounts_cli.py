"""``rtb accounts``: make an API key for an SSP account, digest one, check an accounts file.

The key is shown once, here; the accounts file keeps only its digest. ``digest`` reads the
key from standard input, so it stays out of the shell's history and the process list.
"""

import argparse
import sys
from pathlib import Path
from typing import Any

from exchange.accounts import AccountBook, AccountsFileError, key_digest, new_key


def _key(_: argparse.Namespace) -> int:
    key = new_key()
    print(f"key:    {key}")
    print(f'digest: "{key_digest(key)}"')
    print("Give the key to the SSP (header x-api-key); put the digest in its key_digests.")
    return 0


def _digest(_: argparse.Namespace) -> int:
    key = sys.stdin.readline().strip()
    if not key:
        print("rtb accounts digest: no key on standard input", file=sys.stderr)
        return 2
    print(key_digest(key))
    return 0


def _check(args: argparse.Namespace) -> int:
    try:
        book = AccountBook.load(args.file)
    except AccountsFileError as exc:
        count = len(exc.problems)
        print(f"rtb accounts check: {count} problem{'s' if count != 1 else ''}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    print(f"{args.file}: {len(book)} accounts, no problems")
    return 0


def add_accounts_command(commands: "argparse._SubParsersAction[Any]") -> None:
    """``rtb accounts key|digest|check``."""
    accounts = commands.add_parser("accounts", help="SSP accounts: API keys, file check")
    verbs = accounts.add_subparsers(dest="verb", required=True)
    verbs.add_parser("key", help="a new API key and the digest for the accounts file").set_defaults(
        handler=_key
    )
    verbs.add_parser("digest", help="the digest of a key read from standard input").set_defaults(
        handler=_digest
    )
    check = verbs.add_parser("check", help="list every problem of an accounts file")
    check.add_argument("file", type=Path)
    check.set_defaults(handler=_check)
