"""A fan-out's order (issue #21, case 3): one address's many sockets are written to after everyone else's."""

from __future__ import annotations

from openspace.live.hub import Client, LocalHub
from openspace.live.room import Room


class Phone:
    def __init__(self, address: str, name: str) -> None:
        self.address, self.name = address, name

    def __repr__(self) -> str:
        return self.name


def test_the_smallest_address_comes_first_and_each_keeps_the_order_its_sockets_came_in() -> None:
    room: Room[Phone] = Room()
    hall = [Phone("hall", f"h{n}") for n in range(3)]
    script = [Phone("script", f"s{n}") for n in range(5)]
    away = Phone("away", "a0")
    for phone in (hall[0], script[0], script[1], hall[1], away, script[2], hall[2], script[3], script[4]):
        room.add(phone)
    assert [p.name for p in room] == ["a0", "h0", "h1", "h2", "s0", "s1", "s2", "s3", "s4"] and len(room) == 9
    before = room.order()
    room.discard(hall[1])
    room.discard(hall[1])  # twice: nothing more
    assert [p.name for p in before] == ["a0", "h0", "h1", "h2", "s0", "s1", "s2", "s3", "s4"]  # a fan-out's list stays
    assert [p.name for p in room] == ["a0", "h0", "h2", "s0", "s1", "s2", "s3", "s4"] and len(room) == 8
    for phone in script:
        room.discard(phone)
    assert [p.name for p in room] == ["a0", "h0", "h2"]


async def test_a_fan_out_writes_to_one_addresss_hundreds_of_sockets_after_everyone_else() -> None:
    """The abuse bench's case: 250 honest sockets from each of eight addresses, 512 from one script.
    In a set they were spread through the fan-out, so the last honest phone waited for all 512."""
    hub = LocalHub()
    written: list[str] = []

    def client(address: str) -> Client:
        async def nothing(_: object) -> None:
            return None

        def write(frame: bytes) -> bool:
            written.append(address)
            return True

        made = Client("public", nothing, nothing, write, address)
        made.ready, made.seq, made.acked = True, 0, 0
        return made

    for n in range(512):  # the script connects first, and between the others
        hub.register("e", client("127.0.0.66"))
        if n < 250 * 8:
            hub.register("e", client(f"127.0.1.{n % 8 + 1}"))
    for n in range(512, 250 * 8):
        hub.register("e", client(f"127.0.1.{n % 8 + 1}"))
    await hub.start()
    try:
        hub.publish("e", 1, {"public": '{"type": "change", "seq": 1}', "facilitator": "{}"})
        await hub.drain()
    finally:
        await hub.stop()
    assert len(written) == 2512
    assert all(address.startswith("127.0.1.") for address in written[:2000]), "an honest phone waited for the script"
