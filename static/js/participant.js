// The participant's page: every region is the server's (regions.js); this script only sends the
// forms over the live connection, opens the opening's explanation when the opening starts, and
// reminds a convener to write the report.
import { Live, pageData } from "./live.js";
import { enhanceForms } from "./forms.js";
import { link, Regions } from "./regions.js";

const data = pageData();
const live = new Live(data);
const regions = new Regions(live, data);
const offset = Date.parse(data.serverNow) - Date.now(); // a phone's clock may be off
let phase = live.state.event.phase;

// Which <details> are open is the person's own; the opening's explanation opens by itself only
// when the phase turns to the opening, and closes when it ends, as on a fresh load.
regions.addEventListener("applied", () => {
  if (live.state.event.phase === phase) return;
  phase = live.state.event.phase;
  const opening = document.querySelector("[data-opening]");
  if (opening) opening.open = phase === "opening";
});

function eventNow(timezone, now) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", {
      timeZone: timezone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(now).map((p) => [p.type, p.value]),
  );
  return { day: `${parts.year}-${parts.month}-${parts.day}`, clock: `${parts.hour}:${parts.minute}` };
}

// Five minutes before a running session ends, its conveners are reminded to write the report.
// Per person and by the clock, so it is this page's own (data-keep), not a region.
const nudge = document.querySelector("[data-nudge]");
function remind() {
  const { day, clock } = eventNow(live.state.event.timezone, new Date(Date.now() + offset));
  const minutes = (hhmm) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
  const due = [...live.state.topics.values()].find((topic) => {
    const slot = topic.slot_id && live.state.slots.get(topic.slot_id);
    const mine = data.me && (topic.convener_id === data.me || topic.co_convener_ids.split(" ").includes(data.me));
    const report = live.state.reports.get(topic.id);
    return mine && slot && slot.day === day && slot.start <= clock && clock < slot.end
      && !report?.revision && minutes(slot.end) - minutes(clock) <= 5;
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

enhanceForms(document, live);
live.connect();
