import argparse
import csv
import io
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from casino_platform.errors import ValidationFailed
from players.errors import PlayerNotFound
from players.models import KYC_REFERENCE_LENGTH, Player
from players.selectors import player_get
from players.services import player_update_by_staff

COLUMNS = ("player_id", "kyc_status")
OPTIONAL = ("kyc_reference",)


class Command(BaseCommand):
    help = (
        "Load players' KYC statuses from a CSV file (columns player_id, kyc_status and optionally "
        "kyc_reference, which an empty cell clears; '-' reads standard input), each change audited with "
        "--reason. It sets the statuses of players still unverified, the upgrade's case; a player whose "
        "status is another (verified, rejected or pending since, by the casino) keeps it unless --overwrite. "
        "Safe to run again: a status already held changes nothing, and one set since the file was made is "
        "kept. Rows it cannot apply are listed, and the command then fails, after applying the others."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV file with a header row, or '-' for standard input.")
        parser.add_argument("--reason", required=True, help="Kept in each player's audit log.")
        parser.add_argument("--dry-run", action="store_true", help="Check the file and count; change nothing.")
        parser.add_argument(
            "--overwrite",
            action="store_true",
            help="Also replace a status other than unverified (one the casino set since the file was made).",
        )
        parser.add_argument("--progress-every", type=_positive, default=1000, metavar="N", help="A line every N rows.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["reason"].strip():
            raise CommandError("--reason may not be empty: it is what the audit log says.")
        if options["file"] == "-":
            # As a file is read: UTF-8, a spreadsheet's byte-order mark dropped, whatever the locale.
            self._load(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline=""), **options)
            return
        try:
            with open(options["file"], newline="", encoding="utf-8-sig") as handle:
                self._load(handle, **options)
        except OSError as exc:
            raise CommandError(f"Cannot read {options['file']}: {exc.strerror}") from None

    def _load(self, handle: Any, *, reason: str, dry_run: bool, overwrite: bool, progress_every: int, **_: Any) -> None:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
        except (UnicodeDecodeError, csv.Error) as exc:
            raise CommandError(f"The file's header cannot be read ({exc}): a CSV in UTF-8 is expected.") from None
        missing = [column for column in COLUMNS if column not in header]
        if missing:
            raise CommandError(f"The header must name {', '.join(COLUMNS)}; missing: {', '.join(missing)}.")
        unknown = sorted(set(header) - set(COLUMNS) - set(OPTIONAL))
        if unknown:
            raise CommandError(f"Unknown columns: {', '.join(unknown)} (known: {', '.join(COLUMNS + OPTIONAL)}).")
        counts = {"changed": 0, "unchanged": 0, "kept": 0, "refused": 0}
        verb = "would change" if dry_run else "changed"
        rows = 0
        try:
            for rows, row in enumerate(reader, start=1):
                outcome = self._apply(row, line=reader.line_num, reason=reason, dry_run=dry_run, overwrite=overwrite)
                counts[outcome] += 1
                if rows % progress_every == 0:
                    self.stdout.write(f"{rows:,} rows: {self._summary(counts, verb)}")
        except (UnicodeDecodeError, csv.Error) as exc:
            # The rows before it are applied, and a run of the mended file finds them unchanged.
            done = self._summary(counts, verb)
            raise CommandError(
                f"The file cannot be read after line {reader.line_num} ({exc}); before: {done}."
            ) from None
        self.stdout.write(f"{rows:,} rows: {self._summary(counts, verb)}{' (dry run)' if dry_run else ''}")
        if counts["refused"]:
            others = "would be applied (dry run)" if dry_run else "were applied"
            raise CommandError(f"{counts['refused']} row(s) refused (listed above); the others {others}.")

    def _apply(self, row: dict[str, str | None], *, line: int, reason: str, dry_run: bool, overwrite: bool) -> str:
        if row.get(None):  # type: ignore[call-overload]  # DictReader's key for cells beyond the header
            return self._refuse(line, "more cells than the header names")
        player_id = (row.get("player_id") or "").strip()
        changes = {"kyc_status": (row.get("kyc_status") or "").strip()}
        if row.get("kyc_reference") is not None:
            changes["kyc_reference"] = (row.get("kyc_reference") or "").strip()
        if changes["kyc_status"] not in Player.KycStatus.values:
            return self._refuse(line, f"kyc_status {changes['kyc_status']!r} is not one of {Player.KycStatus.values}")
        reference = changes.get("kyc_reference", "")
        if len(reference) > KYC_REFERENCE_LENGTH or "\x00" in reference:
            return self._refuse(line, f"kyc_reference is not up to {KYC_REFERENCE_LENGTH} characters of text")
        try:
            player = player_get(player_id=player_id)
        except PlayerNotFound:
            return self._refuse(line, f"no player {player_id!r}")
        if all(getattr(player, field) == value for field, value in changes.items()):
            return "unchanged"
        if player.kyc_status != Player.KycStatus.UNVERIFIED and not overwrite:
            # Set since the file was made (a revocation, say): the file is older news.
            return "kept"
        if not dry_run:
            # A row at a time (its own transaction): a long file holds no lock for long, and a
            # re-run after a failure finds what was done unchanged. As read: a status the
            # casino sets meanwhile is not overwritten either.
            try:
                player_update_by_staff(
                    player=player,
                    changed_by="import_kyc",
                    reason=reason,
                    changes=changes,
                    seen={field: getattr(player, field) for field in changes},
                )
            except ValidationFailed as exc:
                return self._refuse(line, exc.message)
        return "changed"

    def _refuse(self, line: int, why: str) -> str:
        self.stderr.write(f"line {line}: {why}")
        return "refused"

    @staticmethod
    def _summary(counts: dict[str, int], verb: str) -> str:
        kept = f", {counts['kept']:,} kept (a status other than unverified; --overwrite)" if counts["kept"] else ""
        return f"{counts['changed']:,} {verb}, {counts['unchanged']:,} unchanged{kept}, {counts['refused']:,} refused"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value
