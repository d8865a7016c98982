import { Live, pageData } from "./live.js";
import { enhanceForms } from "./forms.js";
import { renderGrid, renderTopics, slotStates } from "./render.js";

const data = pageData();
const live = new Live(data);
const grid = document.querySelector("#agenda [data-grid]");
const topics = document.querySelector("#marketplace [data-topics]");

function render() {
  renderGrid(grid, live.state, data, { states: slotStates(live.state, live.state.event.timezone) });
  renderTopics(topics, live.state, data);
}

live.addEventListener("change", render);
setInterval(render, 30000); // "now" and "next" follow the clock
enhanceForms(document, live);
live.connect();
