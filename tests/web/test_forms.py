"""Every form on every page, as the server renders it (#19 point 1): the fields that steer the form
endpoint never share a name with an action's argument, and a form posted as it stands does what
its button says (the facilitator's "Remove" for an action item once answered 400)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

from starlette.testclient import TestClient

from openspace.web.routes import ACTION_FIELD, ANCHOR_FIELD, ID_FIELD, PREVIEW_FIELD, RETURN_FIELD
from tests.conftest import ORIGIN, EventHandle, act, create_event, join, setup_grid, state
from tests.web.test_harvest_flows import jpeg_with_gps, upload

STEERING = {ACTION_FIELD, RETURN_FIELD, ANCHOR_FIELD, ID_FIELD, PREVIEW_FIELD}


@dataclass
class Form:
    action: str
    data_action: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # (name, value) of every named control

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.fields]


class Forms(HTMLParser):
    """The forms of a page and every named input, textarea, select and button in them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("data-action", "")))
            self.open = True
        elif self.open and tag in ("input", "textarea", "select", "button") and a.get("name"):
            self.forms[-1].fields.append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.open = False


def forms_of(html: str) -> list[Form]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


def busy_event(client: TestClient) -> tuple[EventHandle, TestClient, list[str]]:
    """An event with something in every section, so that every kind of form is on its pages."""
    event = create_event(client, language="en")
    spaces, slots = setup_grid(client, event, spaces=2, slots=2)
    f = event.facilitator
    for title in ("Alpha", "Beta", "Gamma"):
        assert act(f, event, "topic.propose", "facilitate", title=title, convener_name="Anna").status_code == 303
    topics = [t["id"] for t in state(client, event)["topics"]]
    act(f, event, "topic.place", "facilitate", topic=topics[0], slot=slots[0], space=spaces[0])
    act(f, event, "pitch.join", "facilitate", topic=topics[1])
    act(f, event, "announce", "facilitate", text="Lunch at noon", minutes="30")
    act(f, event, "action.add", "facilitate", topic=topics[0], what="Write the policy", who="Lisa")
    act(f, event, "voting.set", "facilitate", dots="3")
    lisa = join(client, event, "Lisa")
    act(lisa, event, "report.save", "report", topic=topics[0], base="0", discussion="We talked.")
    upload(lisa, event, topics[0], "a.jpg", jpeg_with_gps())
    act(lisa, event, "topic.propose", title="Lisa's own")
    return event, lisa, [*topics, state(client, event)["topics"][-1]["id"]]


def test_no_argument_shares_a_name_with_the_fields_that_steer_the_form(client: TestClient) -> None:
    """Walks every form on every page a facilitator and a participant get."""
    event, lisa, topics = busy_event(client)
    facilitator_pages = [
        f"{event.path}/facilitate{query}"
        for query in ("", f"?pick={topics[1]}", "?suggest=1", f"?merge={topics[1]}&merge={topics[2]}")
    ]
    pages = [(event.facilitator, path) for path in facilitator_pages]
    for browser in (event.facilitator, lisa):
        for path in ("", f"/topics/{topics[3]}/edit", f"/topics/{topics[3]}/place", f"/sessions/{topics[0]}",
                     f"/sessions/{topics[0]}/report", "/news", "/projector"):  # fmt: skip
            pages.append((browser, f"{event.path}{path}"))
    seen: set[str] = set()
    for browser, path in pages:
        response = browser.get(path)
        assert response.status_code == 200, path
        for form in forms_of(response.text):
            if not form.action.endswith("/act"):
                continue
            seen.add(form.data_action or next(v for n, v in form.fields if n == ACTION_FIELD))
            names = form.names
            assert names.count(ACTION_FIELD) == 1, (path, form)
            assert all(names.count(name) == 1 for name in STEERING | {"csrf"} if name in names), (path, form)
            arguments = [name for name in names if name not in STEERING and name != "csrf"]
            assert not [name for name in arguments if name.startswith("_")], (path, form)
    # the walk reached the forms of every section, the action item's "Remove" among them
    assert {"action.remove", "action.add", "announce.end", "photo.remove", "report.save", "topic.place",
            "pitch.spotlight", "topic.merge", "vote", "attendance.erase", "topic.withdraw"} <= seen  # fmt: skip


def test_the_facilitator_removes_an_action_item_with_the_form_as_rendered(client: TestClient) -> None:
    """The "Remove" button's form, posted exactly as the page has it, removes the item."""
    event, _, topics = busy_event(client)
    assert [a["what"] for a in state(event.facilitator, event)["actions"]] == ["Write the policy"]
    page = event.facilitator.get(f"{event.path}/facilitate").text
    remove = next(f for f in forms_of(page) if f.data_action == "action.remove")
    response = event.facilitator.post(remove.action, data=dict(remove.fields), headers={"origin": ORIGIN})
    assert response.status_code == 303, response.text
    assert state(event.facilitator, event)["actions"] == []
