"""vinledger's own inspection report as a provider: a report whose body is the record.

An inspection firm that has no format of its own signs vinledger's inspection record
with the payload type below; it is checked with the same schema as a record
submitted as ``application/vnd.vinledger.record+json``.
"""

from __future__ import annotations

import msgspec

from core.errors import InvalidRecord
from core.records import Inspection, encode_record, parse_record
from plugins.hookspecs import hookimpl
from plugins.interfaces import InspectionProvider


class NativeInspection(InspectionProvider):
    id = "vinledger-inspection"
    version = "1"
    payload_type = "application/vnd.vinledger.inspection+json"
    description = "vinledger's inspection record, signed as an inspection report"

    def normalise(self, payload: bytes) -> dict:
        record = parse_record(payload)
        if not isinstance(record, Inspection):
            raise InvalidRecord(
                f"a {self.payload_type} report is an inspection, not a {record.kind!r}",
                field="$.kind",
            )
        return msgspec.json.decode(encode_record(record))


@hookimpl
def register_inspection_providers():
    return [NativeInspection()]
