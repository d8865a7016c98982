import { Live, pageData } from "./live.js";
import { enhanceForms } from "./forms.js";
import { eventNow, link, renderBanner, renderGrid, renderTopics, slotStates } from "./render.js";

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

// Five minutes before a running session ends, its conveners are reminded to write the report.
const nudge = document.querySelector("[data-nudge]");
function remind() {
  const states = slotStates(live.state, live.state.event.timezone);
  const { day, clock } = eventNow(live.state.event.timezone, new Date(Date.now() + offset));
  const minutes = (hhmm) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
  const due = [...live.state.topics.values()].find((topic) => {
    const slot = topic.slot_id && live.state.slots.get(topic.slot_id);
    const mine = data.me && (topic.convener_id === data.me || topic.co_convener_ids.split(" ").includes(data.me));
    const report = live.state.reports.get(topic.id);
    return mine && slot && states[slot.id] === "now" && slot.day === day && !report?.revision
      && minutes(slot.end) - minutes(clock) <= 5;
  });
  nudge.hidden = !due;
  if (due) {
    const anchor = nudge.querySelector("a");
    anchor.href = link(data, "report", { topic: due.id });
    anchor.textContent = data.i18n.nudge;
  }
}
setInterval(remind, 20000);
remind();

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
