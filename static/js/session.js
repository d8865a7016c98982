// A session's page follows its head count live; "I'm here" and "I'm leaving" go through the
// live connection (and its outbox, so a tap made offline is sent once the phone is back).
import { Live, pageData } from "./live.js";
import { enhanceForms } from "./forms.js";
import { renderBanner, slotStates } from "./render.js";

const data = pageData();
const live = new Live(data);
const topicId = document.querySelector("[data-session]").dataset.session;
const count = document.querySelector("[data-headcount]");
const online = document.querySelector("[data-online-count]");
const banner = document.querySelector("[data-banner]");
const offset = Date.parse(data.serverNow) - Date.now();

function render() {
  const topic = live.state.topics.get(topicId);
  if (!topic || !count) return;
  count.textContent = count.textContent.replace(/^\d+/, String(topic.headcount));
  if (online) {
    online.textContent = online.textContent.replace(/^\d+/, String(topic.online));
    if (topic.online) online.hidden = false;
  }
}

live.addEventListener("change", render);
setInterval(() => renderBanner(banner, live.state, data, slotStates(live.state, live.state.event.timezone), offset), 1000);
// after "I'm here" or "I'm leaving" the buttons change: load the page's own answer again
enhanceForms(document, live, { onDone: () => window.location.reload() });
live.connect();
