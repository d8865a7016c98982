import { Live, pageData } from "./live.js";
import { enhanceForms } from "./forms.js";
import { renderBanner, renderGrid, renderTopics, slotStates } from "./render.js";

const data = pageData();
const live = new Live(data);
const grid = document.querySelector("#agenda [data-grid]");
const topics = document.querySelector("#marketplace [data-topics]");
const banner = document.querySelector("[data-banner]");
const opening = document.querySelector("[data-opening]");
const offset = Date.parse(data.serverNow) - Date.now(); // a phone's clock may be off
let phase = live.state.event.phase;

function render() {
  const states = slotStates(live.state, live.state.event.timezone);
  renderGrid(grid, live.state, data, { states });
  renderTopics(topics, live.state, data);
  renderBanner(banner, live.state, data, states, offset);
  if (live.state.event.phase !== phase) {
    phase = live.state.event.phase;
    opening.open = phase === "opening";
  }
}

live.addEventListener("change", render);
setInterval(() => renderBanner(banner, live.state, data, slotStates(live.state, live.state.event.timezone), offset), 1000);
setInterval(render, 30000); // "now" and "next" follow the clock
enhanceForms(document, live, {
  onDone(form, result) {
    if (form.dataset.action !== "topic.interest") return;
    const topic = form.elements.topic.value;
    const mine = new Set(data.myInterests);
    if (result.on) mine.add(topic);
    else mine.delete(topic);
    data.myInterests = [...mine];
    render();
  },
});
live.connect();
