"""`bot users ...`: portal accounts for mentors and coordinators (the operator's side).

    bot users add --role mentor --email m@school.nl --name "M. de Vries" [--school "Het College"]
    bot users reset-password --email m@school.nl
    bot users token --email m@school.nl

A new or reset password is printed once (or read from stdin with --password-stdin); an API
token is printed once and stored only as a hash."""

from __future__ import annotations

import argparse
import sys

from bot.storage import accounts
from bot.storage.db import session_scope


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, generated)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return accounts.new_password(), True


def add_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bot users add",
                                     description="Maak een portal-account aan.")
    parser.add_argument("--role", required=True, choices=accounts.ROLES)
    parser.add_argument("--email", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--school", help="naam van de school (wordt aangemaakt als die er "
                                         "nog niet is)")
    parser.add_argument("--password-stdin", action="store_true",
                        help="lees het wachtwoord van stdin in plaats van er een te maken")
    args = parser.parse_args(argv)
    password, generated = _password(args)
    try:
        with session_scope() as db:
            user = accounts.add_user(db, args.role, args.email, args.name, password,
                                     school=args.school)
            email = user.email
    except accounts.AccountError as exc:
        print(f"Niet gelukt: {exc}", file=sys.stderr)
        return 1
    print(f"Account gemaakt: {email} ({args.role}).")
    if generated:
        print(f"Eenmalig wachtwoord (wordt niet nog eens getoond): {password}")
    return 0


def reset_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bot users reset-password",
                                     description="Geef een account een nieuw wachtwoord.")
    parser.add_argument("--email", required=True)
    parser.add_argument("--password-stdin", action="store_true")
    args = parser.parse_args(argv)
    password, generated = _password(args)
    try:
        with session_scope() as db:
            accounts.set_password(db, args.email, password)
    except accounts.AccountError as exc:
        print(f"Niet gelukt: {exc}", file=sys.stderr)
        return 1
    print("Nieuw wachtwoord ingesteld; open sessies van dit account zijn beëindigd.")
    if generated:
        print(f"Eenmalig wachtwoord (wordt niet nog eens getoond): {password}")
    return 0


def token_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bot users token",
                                     description="Maak een API-token voor /api/v1/.")
    parser.add_argument("--email", required=True)
    args = parser.parse_args(argv)
    try:
        with session_scope() as db:
            token = accounts.create_api_token(db, args.email)
    except accounts.AccountError as exc:
        print(f"Niet gelukt: {exc}", file=sys.stderr)
        return 1
    print("API-token (wordt niet nog eens getoond; gebruik: Authorization: Bearer <token>):")
    print(token)
    return 0
