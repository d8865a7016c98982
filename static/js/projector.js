import { Live, pageData } from "./live.js";
import { projectorDay, renderFresh, renderGrid, slotStates } from "./render.js";

const data = pageData();
const live = new Live(data);
const grid = document.querySelector("#agenda [data-grid]");
const fresh = document.querySelector("[data-fresh]");

function render() {
  const states = slotStates(live.state, live.state.event.timezone);
  renderGrid(grid, live.state, data, { states, onlyDay: projectorDay(live.state, states) });
  renderFresh(fresh, live.state, data);
}

live.addEventListener("change", render);
setInterval(render, 15000);
live.connect();
