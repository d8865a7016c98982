// The facilitator's board is rendered by the server (templates/_facilitate_board.html). On every
// live change this page fetches that fragment again and swaps it in, keeping any form the
// facilitator is typing in and the keyboard focus. Drag and drop, and the keyboard's
// "Move" then "Place here", both send topic.place through the live connection.

import { Live, pageData } from "./live.js";
import { enhanceForms } from "./forms.js";
import { renderBanner, slotStates } from "./render.js";

const data = pageData();
const live = new Live(data);
const board = document.getElementById("board");
let view = new URLSearchParams(); // what the board shows besides the grid: pick, suggest, merge
let timer = null;
let dragging = false; // a drag is under way, or a pointer is pressed on a card and may start one

function focusKey(node) {
  if (!node || !board.contains(node)) return null;
  if (node.id) return `#${CSS.escape(node.id)}`;
  const form = node.closest("form[id]");
  if (form && node.name) return `#${CSS.escape(form.id)} [name="${CSS.escape(node.name)}"]`;
  const card = node.closest("[data-topic]");
  if (card && node.dataset.pick !== undefined) return `[data-pick="${CSS.escape(card.dataset.topic)}"]`;
  return null;
}

// Refreshes may overlap (a result and its change arrive close together): only the newest
// request's answer is applied, so an older, slower one can never put back a stale board. While
// one is pending the region says so with aria-busy, for screen readers and tests alike.
let issued = 0;
let pending = 0;

function settle() {
  if (!pending && !timer && !dragging) board.removeAttribute("aria-busy");
}

async function refresh({ focus = null } = {}) {
  clearTimeout(timer);
  timer = null;
  if (dragging) return; // dragend schedules the refresh that was skipped
  const mine = ++issued;
  pending += 1;
  board.setAttribute("aria-busy", "true");
  const extra = view.toString();
  const url = `${board.dataset.fragment}${extra ? `&${extra}` : ""}`;
  let html = null;
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    if (response.ok) html = await response.text();
  } catch {
    // bad wifi: handled below
  }
  pending -= 1;
  if (html === null) {
    if (mine === issued) timer = setTimeout(() => refresh(), 2000); // must not stay stale
    return;
  }
  if (mine !== issued || dragging) {
    settle(); // a newer answer is coming, or a drag is under way and will refresh at its end
    return;
  }
  swap(html, focus || focusKey(document.activeElement));
  settle();
}

function swap(html, key) {
  const dirty = [...board.querySelectorAll("form[id][data-dirty='1']")];
  const next = document.createElement("div");
  next.innerHTML = html;
  for (const form of dirty) {
    const fresh = next.querySelector(`#${CSS.escape(form.id)}`);
    if (fresh) fresh.replaceWith(form);
  }
  board.replaceChildren(...next.childNodes);
  const target = key && board.querySelector(key);
  if (target) target.focus();
}

function scheduleRefresh() {
  clearTimeout(timer);
  board.setAttribute("aria-busy", "true");
  timer = setTimeout(() => refresh(), 60);
}

live.addEventListener("change", scheduleRefresh);
enhanceForms(board, live, {
  onDone(form) {
    if (form.dataset.action === "topic.place") {
      view = new URLSearchParams();
      refresh({ focus: `[data-pick="${CSS.escape(form.elements.topic.value)}"]` });
    } else if (form.dataset.action === "agenda.apply" || form.dataset.action === "topic.merge") {
      view = new URLSearchParams();
      refresh({ focus: form.dataset.action === "topic.merge" ? "#topics-h" : "#grid-h" });
    }
  },
});

// Links and GET forms that only change what the board shows are answered by a fragment refresh,
// not a page load: the facilitator keeps their place, and focus lands where the work continues.
board.addEventListener("click", (event) => {
  const link = event.target.closest(`a[href^="${CSS.escape(data.urls.facilitate)}"]`);
  if (!link) return;
  event.preventDefault();
  const url = new URL(link.href);
  view = url.searchParams;
  const focus = view.has("pick") ? "button.place" : url.hash || "#grid-h";
  refresh({ focus });
});

board.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.method !== "get") return;
  event.preventDefault();
  view = new URLSearchParams(new FormData(form));
  refresh({ focus: view.has("suggest") ? "#suggest-h" : "#merge-h" });
});

board.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && view.has("pick")) {
    const topic = view.get("pick");
    view = new URLSearchParams();
    refresh({ focus: `[data-pick="${CSS.escape(topic)}"]` });
  }
});

const offset = Date.parse(data.serverNow) - Date.now();
setInterval(() => {
  const banner = board.querySelector("[data-banner]");
  if (banner) renderBanner(banner, live.state, data, slotStates(live.state, live.state.event.timezone), offset);
}, 1000);

// A refresh must not replace a card between the press and the drag's start: Chromium then
// cancels the drag. So a pressed pointer on a card counts as dragging until it is released.
board.addEventListener("pointerdown", (event) => {
  if (event.target.closest("[data-topic]")) dragging = true;
});
document.addEventListener("pointerup", () => {
  if (!board.dataset.dragTopic && dragging) {
    dragging = false;
    scheduleRefresh();
  }
});

// Drag and drop, for the mouse. The drop target says what it held when the facilitator let go,
// so a cell someone else filled a moment earlier is refused instead of overwritten.
board.addEventListener("dragstart", (event) => {
  const card = event.target.closest?.("[data-topic]");
  if (!card) return;
  dragging = true;
  event.dataTransfer.setData("text/plain", card.dataset.topic);
  event.dataTransfer.effectAllowed = "move";
  board.dataset.dragTopic = card.dataset.topic;
  board.dataset.dragVersion = card.dataset.version;
});
board.addEventListener("dragend", () => {
  dragging = false;
  delete board.dataset.dragTopic;
  for (const n of board.querySelectorAll(".drop-over")) n.classList.remove("drop-over");
  scheduleRefresh();
});
board.addEventListener("dragover", (event) => {
  const target = event.target.closest("td.cell, [data-tray]");
  if (!target) return;
  event.preventDefault();
  target.classList.add("drop-over");
});
board.addEventListener("dragleave", (event) => {
  const target = event.target.closest("td.cell, [data-tray]");
  if (target) target.classList.remove("drop-over");
});
board.addEventListener("drop", (event) => {
  const target = event.target.closest("td.cell, [data-tray]");
  if (!target) return;
  event.preventDefault();
  dragging = false;
  const topic = board.dataset.dragTopic;
  const version = board.dataset.dragVersion;
  const sent = target.matches("[data-tray]")
    ? live.send("topic.unplace", { topic, version })
    : live.send("topic.place", {
      topic, version, slot: target.dataset.slot, space: target.dataset.space, swap_with: target.dataset.occupant,
    });
  sent.promise.then(() => announce(""), (error) => {
    announce(error.message);
    scheduleRefresh(); // show the board as it is now, with whoever got there first
  });
  scheduleRefresh();
});

function announce(message) {
  let node = document.getElementById("board-alert");
  if (!message) {
    if (node) node.remove();
    return;
  }
  if (!node) {
    node = document.createElement("div");
    node.id = "board-alert";
    node.className = "alert";
    node.setAttribute("role", "alert");
    board.before(node);
  }
  node.textContent = message;
}

live.connect();
