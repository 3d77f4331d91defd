"""A sales tool reading LeadLoop's hand-offs from Kafka, with plain aiokafka and cryptography.

    pip install aiokafka cryptography
    python kafka_sales_tool.py 127.0.0.1:9092 my-crm

What a reader outside LeadLoop must do:
1. Read `leadloop.handoff` in its own consumer group; keep events whose `ce_type` header is
   `leadloop.lead.handed_off.v1`. The record key and `ce_subject` are the lead id, `ce_id` is
   unique per event (delivery is at least once: deduplicate on it).
2. Personal fields (email, names, phone, properties, URLs, notes) arrive sealed:
   "pii:v1:" + base64url(12-byte nonce | AES-256-GCM ciphertext of the JSON value), with
   "leadloop-pii:<lead id>" as associated data, under the lead's own key.
3. The keys are on the compacted topic `leadloop.capture.keys`: key = lead id, value
   {"data_key": "<base64>"} or {"erased": true}. Read it from the beginning, without a group,
   and keep reading: a lead's key is published before its first sealed event, so a key that is
   missing means "catch up on the keys topic". An erased lead's fields can never be opened
   again; they read as empty.

Nothing here imports LeadLoop: this is the whole contract.
"""

import asyncio
import base64
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HANDOFF_TOPIC = "leadloop.handoff"
KEYS_TOPIC = "leadloop.capture.keys"
HANDED_OFF = "leadloop.lead.handed_off.v1"
SEALED = "pii:v1:"


def open_sealed(value: str, lead_id: str, key: bytes) -> Any:
    """One personal field's JSON value."""
    token = value.removeprefix(SEALED)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    plain = AESGCM(key).decrypt(raw[:12], raw[12:], f"leadloop-pii:{lead_id}".encode())
    return json.loads(plain)


def reveal(data: Any, lead_id: str, key: bytes | None) -> Any:
    """`data` with every sealed value opened (None when the lead was erased)."""
    if isinstance(data, str) and data.startswith(SEALED):
        return None if key is None else open_sealed(data, lead_id, key)
    if isinstance(data, dict):
        return {name: reveal(value, lead_id, key) for name, value in data.items()}
    if isinstance(data, list):
        return [reveal(item, lead_id, key) for item in data]
    return data


class LeadKeys:
    """The lead keys topic, read from the beginning and caught up on demand."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._consumer = AIOKafkaConsumer(KEYS_TOPIC, bootstrap_servers=bootstrap_servers,
                                          group_id=None, enable_auto_commit=False,
                                          auto_offset_reset="earliest")
        self.keys: dict[str, bytes | None] = {}

    async def start(self) -> None:
        await self._consumer.start()
        while not self._consumer.assignment():  # partitions are assigned on the first fetch
            self._take(await self._consumer.getmany(timeout_ms=100))
        await self.catch_up()

    async def stop(self) -> None:
        await self._consumer.stop()

    def _take(self, batches: dict[TopicPartition, list[Any]]) -> None:
        for records in batches.values():
            for record in records:
                body = json.loads(record.value or b"{}")
                self.keys[(record.key or b"").decode()] = (
                    base64.b64decode(body["data_key"]) if "data_key" in body else None)

    async def catch_up(self) -> None:
        """Read every key published so far."""
        partitions = list(self._consumer.assignment())
        ends = await self._consumer.end_offsets(partitions)
        behind = [tp for tp in partitions if await self._consumer.position(tp) < ends[tp]]
        while behind:
            self._take(await self._consumer.getmany(*behind, timeout_ms=500))
            behind = [tp for tp in behind if await self._consumer.position(tp) < ends[tp]]

    async def key_of(self, lead_id: str) -> bytes | None:
        """The lead's key (None: erased)."""
        if lead_id not in self.keys:
            await self.catch_up()
        return self.keys.get(lead_id)


async def hand_offs(bootstrap_servers: str, group_id: str) -> AsyncIterator[dict[str, Any]]:
    """Every lead.handed_off, decrypted: profile, consent, score and why, recent activities,
    source and campaign, the rep (None: the fallback queue) and the accept deadline. The
    offset is committed once the caller has handled the event and asks for the next one."""
    keys = LeadKeys(bootstrap_servers)
    consumer = AIOKafkaConsumer(HANDOFF_TOPIC, bootstrap_servers=bootstrap_servers,
                                group_id=group_id, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await keys.start()
    await consumer.start()
    try:
        async for record in consumer:
            headers = {name: value.decode() for name, value in record.headers or ()}
            if headers.get("ce_type") == HANDED_OFF:
                lead_id = headers["ce_subject"]
                data = json.loads(record.value or b"{}")
                yield {"event_id": headers["ce_id"],
                       **reveal(data, lead_id, await keys.key_of(lead_id))}
            await consumer.commit()
    finally:
        await consumer.stop()
        await keys.stop()


async def main(bootstrap_servers: str, group_id: str) -> None:
    async for lead in hand_offs(bootstrap_servers, group_id):
        rep = lead["rep"]["name"] if lead["rep"] else "the fallback queue"
        print(f"{lead['profile']['email']} (score {lead['score']}, {lead['source']['campaign']})"
              f" -> {rep}, accept by {lead['sla_deadline']}")


if __name__ == "__main__":
    asyncio.run(main(*(sys.argv[1:3] or ["127.0.0.1:9092", "my-crm"])))
