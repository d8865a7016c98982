"""The demo event: the open-space workshop on social media in libraries, at Barnens eget bibliotek
in Stenhamra, as two Stockholm-county librarians described it on their blogs.

It is built through the same `Service` calls a facilitator's clicks make, so the demo can never
hold a board the rules would refuse.
"""

from __future__ import annotations

from datetime import date, timedelta

from openspace.domain.model import Event
from openspace.domain.rules import Actor
from openspace.service import Service

THEME = "Hur påverkar sociala medier bibliotekens kärnverksamhet, och vilken roll ska biblioteken ha?"
SPACES = [("Sagorummet", 20), ("Läsfåtöljerna", 12), ("Verkstaden", 15), ("Trappan", 25)]
SLOTS = [("10:00", "11:00"), ("11:15", "12:15"), ("13:15", "14:15"), ("14:30", "15:30")]
BREAKS = [("12:15", "13:15", "Lunch")]  # a labelled slot, on every agenda (#15)
TOPICS = [
    (
        "Policy och strategi för sociala medier",
        "Hur tar biblioteket ställning, pö om pö? Vad ska en policy innehålla, och vem avsätter tiden?",
        "Cecilia",
        (0, 0),
    ),
    (
        "23 saker – och sedan?",
        "Personalen har gått utbildningen. När börjar vi nå våra användare?",
        "Marcus",
        (0, 1),
    ),
    (
        "Är det bibliotekens uppdrag att lära ut Facebook?",
        "Folkbildning, digitala klyftor och delaktighet: kursen Sociala medier fick över 1000 anmälda.",
        "Kristina",
        (1, 0),
    ),
    (
        "Att våga kasta sig ut",
        "Hur får vi kollegor och bibliotek som inte börjat att pröva? Förebilder, tid och kompetensutveckling.",
        "Anna-Stina",
        (1, 2),
    ),
    (
        "Sociala medier i värdenätverk",
        "Omvärldsbevakning och kunskapsinhämtning, inte bara marknadsföring. Utifrån Hamrefors artikel.",
        "Cecilia",
        None,
    ),
    (
        "Creative Commons och lärresurser",
        "IKT-lyftets kunskapsbank: licenser som medger fritt användande och bearbetning.",
        "Marcus",
        None,
    ),
    (
        "Share and learn from each other",
        "Hur delar vi erfarenheter mellan bibliotek oftare än på en unconference om året?",
        "",
        None,
    ),
]


async def create_demo(service: Service, today: date | None = None) -> tuple[Event, str]:
    """Create the demo event dated a week ahead, so its slots are upcoming when someone tries it."""
    day = (today or date.today()) + timedelta(days=7)
    event, secret = await service.create_event(
        {
            "name": "Sociala medier på biblioteken – open space",
            "theme": THEME,
            "venue": "Barnens eget bibliotek, Stenhamra",
            "starts_on": day.isoformat(),
            "ends_on": day.isoformat(),
            "timezone": "Europe/Stockholm",
            "language": "sv",
        }
    )
    facilitator = Actor(facilitator=True)
    spaces = [
        (await service.execute(event.id, facilitator, "space.add", {"name": n, "capacity": str(c)}))["space"]
        for n, c in SPACES
    ]
    slots = [
        (await service.execute(event.id, facilitator, "slot.add", {"day": day.isoformat(), "start": s, "end": e}))[
            "slot"
        ]
        for s, e in SLOTS
    ]
    for s, e, label in BREAKS:
        args = {"day": day.isoformat(), "start": s, "end": e, "label": label}
        await service.execute(event.id, facilitator, "slot.add", args)
    for title, description, convener, cell in TOPICS:
        args = {"title": title, "description": description, "convener_name": convener}
        topic = (await service.execute(event.id, facilitator, "topic.propose", args))["topic"]
        if cell is not None:
            slot, space = slots[cell[0]], spaces[cell[1]]
            await service.execute(event.id, facilitator, "topic.place", {"topic": topic, "slot": slot, "space": space})
    return event, secret
