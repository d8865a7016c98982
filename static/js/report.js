// The report page stays a plain form (long texts, merging and both-texts display are the
// server's work), but it says at once when someone else saves meanwhile.
import { Live, pageData } from "./live.js";

const data = pageData();
const live = new Live(data);
const section = document.querySelector("[data-report]");
const notice = document.querySelector("[data-newer]");
const seen = Number(section.dataset.revision);

live.addEventListener("change", () => {
  const report = live.state.reports.get(section.dataset.report);
  if (notice && report && report.revision > seen) notice.hidden = false;
});
live.connect();
