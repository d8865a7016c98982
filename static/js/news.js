import { Live, pageData } from "./live.js";
import { enhanceForms } from "./forms.js";
import { renderBanner, renderNews, slotStates } from "./render.js";

const data = pageData();
const live = new Live(data);
const wall = document.querySelector("[data-news]");
const banner = document.querySelector("[data-banner]");
const left = document.querySelector("[data-dots-left]");
const offset = Date.parse(data.serverNow) - Date.now();

function render() {
  renderNews(wall, live.state, data);
  if (left) {
    const remaining = live.state.event.voting_dots - data.myDots;
    left.textContent = data.i18n.dots_left.replace("%(num)s", String(Math.max(0, remaining)));
  }
}

live.addEventListener("change", (event) => {
  // A new round takes back every dot given so far, this person's too.
  const { kind, changes } = event.detail;
  const kinds = kind === "batch" ? changes.map((change) => change.kind) : [kind];
  if (kinds.includes("voting.new_round")) data.myDots = 0;
  render();
});
setInterval(() => renderBanner(banner, live.state, data, slotStates(live.state, live.state.event.timezone), offset), 1000);
enhanceForms(document, live, {
  onDone(form, result) {
    if (form.dataset.action !== "vote") return;
    data.myDots = live.state.event.voting_dots - result.left; // the server counts, not the page
    render();
  },
});
live.connect();
