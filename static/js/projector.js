import { Live, pageData } from "./live.js";
import { projectorDay, renderBanner, renderFresh, renderGrid, renderVotes, slotStates } from "./render.js";

const data = pageData();
const live = new Live(data);
const grid = document.querySelector("#agenda [data-grid]");
const fresh = document.querySelector("[data-fresh]");
const box = document.querySelector(".proj-grid");
const banner = document.querySelector("[data-banner]");
const spotlight = document.querySelector("[data-spotlight]");
const opening = document.querySelector("[data-proj-opening]");
const votes = document.querySelector("[data-proj-votes]");
const offset = Date.parse(data.serverNow) - Date.now(); // the projector's laptop clock may be off

// The largest type that still fits: a room reads from the back, and nothing may scroll out of sight.
function fit() {
  if (box.hidden) return;
  let size = 100;
  box.style.fontSize = `${size}%`;
  while (size > 35 && (box.scrollHeight > box.clientHeight + 1 || box.scrollWidth > box.clientWidth + 1)) {
    size -= 5;
    box.style.fontSize = `${size}%`;
  }
}

// One of four faces: the topic being pitched, the dot-vote's results, the opening, or the agenda.
function renderMode() {
  const topic = live.state.topics.get(live.state.event.spotlight || "");
  const spot = topic && topic.status === "open" ? topic : null;
  spotlight.hidden = !spot;
  if (spot) {
    spotlight.querySelector(".spot-title").textContent = spot.title;
    spotlight.querySelector(".spot-conv").textContent = [spot.convener_name, spot.co_conveners].filter(Boolean).join(", ");
  }
  const voting = !spot && live.state.event.voting_dots > 0;
  votes.hidden = !voting;
  if (voting) renderVotes(votes.querySelector("[data-votes]"), live.state);
  opening.hidden = Boolean(spot) || voting || live.state.event.phase !== "opening";
  box.hidden = Boolean(spot) || voting || live.state.event.phase === "opening";
}

function render() {
  const states = slotStates(live.state, live.state.event.timezone);
  renderMode();
  renderGrid(grid, live.state, data, { states, onlyDay: projectorDay(live.state, states) });
  renderFresh(fresh, live.state, data);
  renderBanner(banner, live.state, data, states, offset);
  fit();
}

live.addEventListener("change", render);
window.addEventListener("resize", fit);
setInterval(() => renderBanner(banner, live.state, data, slotStates(live.state, live.state.event.timezone), offset), 1000);
setInterval(render, 15000); // "now" and "next" follow the clock
fit();
live.connect();
