// The facilitator's board is one region the server renders (templates/_facilitate_board.html);
// on every live change regions.js fetches it again and morphs it into place, so what the
// facilitator is typing, the caret and the focus stay. What the board shows besides the grid
// (a topic being moved, a suggestion, a merge) is this page's own view, sent with each fetch.
// Drag and drop, and the keyboard's "Move" then "Place here", both send topic.place through the
// live connection; a refusal of either ends the move and stays above the board until dismissed.

import { Live, pageData } from "./live.js";
import { enhanceForms } from "./forms.js";
import { Regions } from "./regions.js";

const data = pageData();
const live = new Live(data);
const board = document.getElementById("board");
let view = new URLSearchParams(); // what the board shows besides the grid: pick, suggest, merge
let dragging = false; // a drag is under way, or a pointer is pressed on a card and may start one

const regions = new Regions(live, data, {
  url: () => `${board.dataset.fragment}${view.toString() ? `&${view}` : ""}`,
  busy: board,
  hold: () => dragging,
});

// Show the board for the current view, then put the focus where the work continues.
async function refresh(focus = null) {
  await regions.schedule(0);
  const target = focus && board.querySelector(focus);
  const fold = target?.closest("details");
  if (fold && !fold.open) fold.open = true; // the work continues in a folded part of the console: open it
  if (target) target.focus();
}

function scheduleRefresh() {
  regions.schedule();
}

function endMove(topic) {
  view = new URLSearchParams();
  return refresh(topic ? `[data-pick="${CSS.escape(topic)}"]` : null);
}

enhanceForms(board, live, {
  onDone(form) {
    if (form.dataset.action === "topic.place") {
      announce("");
      endMove(form.elements.topic.value);
    } else if (form.dataset.action === "agenda.apply" || form.dataset.action === "topic.merge") {
      view = new URLSearchParams();
      refresh(form.dataset.action === "topic.merge" ? "#topics-h" : "#grid-h");
    }
  },
  onError(form, error) {
    if (form.dataset.action !== "topic.place" || !view.has("pick")) return true;
    // The cell was taken a moment earlier: the move ends (its forms go with it), and the
    // refusal is said above the board, where no refresh replaces it.
    announce(error.message);
    endMove(form.elements.topic.value);
    return false;
  },
});

// Links and GET forms that only change what the board shows are answered by a region refresh,
// not a page load: the facilitator keeps their place, and focus lands where the work continues.
board.addEventListener("click", (event) => {
  const link = event.target.closest(`a[href^="${CSS.escape(data.urls.facilitate)}"]`);
  if (!link) return;
  event.preventDefault();
  const url = new URL(link.href);
  view = url.searchParams;
  refresh(view.has("pick") ? "button.place" : url.hash || "#grid-h");
});

board.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.method !== "get") return;
  event.preventDefault();
  view = new URLSearchParams(new FormData(form));
  refresh(view.has("suggest") ? "#suggest-h" : "#merge-h");
});

board.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && view.has("pick")) endMove(view.get("pick"));
});

// A refresh must not replace a card between the press and the drag's start: Chromium then
// cancels the drag. So a pressed pointer on a card counts as dragging until it is released.
board.addEventListener("pointerdown", (event) => {
  if (event.target.closest("[data-topic]")) dragging = true;
});
document.addEventListener("pointerup", () => {
  if (!board.dataset.dragTopic && dragging) {
    dragging = false;
    regions.release();
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

// A refusal of a placement, above the board: no refresh touches it, and it stays until the
// facilitator dismisses it or places a topic successfully.
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
    const close = document.createElement("button");
    close.type = "button";
    close.className = "small secondary";
    close.textContent = data.i18n.dismiss;
    close.addEventListener("click", () => announce(""));
    node.append(document.createElement("p"), close);
    board.before(node);
  }
  node.querySelector("p").textContent = message;
}

live.connect();
