import { Live, pageData } from "./live.js";
import { projectorDay, renderFresh, renderGrid, slotStates } from "./render.js";

const data = pageData();
const live = new Live(data);
const grid = document.querySelector("#agenda [data-grid]");
const fresh = document.querySelector("[data-fresh]");
const box = document.querySelector(".proj-grid");

// The largest type that still fits: a room reads from the back, and nothing may scroll out of sight.
function fit() {
  let size = 100;
  box.style.fontSize = `${size}%`;
  while (size > 35 && (box.scrollHeight > box.clientHeight + 1 || box.scrollWidth > box.clientWidth + 1)) {
    size -= 5;
    box.style.fontSize = `${size}%`;
  }
}

function render() {
  const states = slotStates(live.state, live.state.event.timezone);
  renderGrid(grid, live.state, data, { states, onlyDay: projectorDay(live.state, states) });
  renderFresh(fresh, live.state, data);
  fit();
}

live.addEventListener("change", render);
window.addEventListener("resize", fit);
setInterval(render, 15000); // "now" and "next" follow the clock
fit();
live.connect();
