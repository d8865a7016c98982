// The projector: its four faces (the topic being pitched, the dot-vote's results, the opening,
// the agenda) and the wall of new topics are regions the server renders (regions.js). This
// script only fits the agenda's type to the screen, a per-device style a morph leaves alone.
import { Live, pageData } from "./live.js";
import { Regions } from "./regions.js";

const data = pageData();
const live = new Live(data);
const regions = new Regions(live, data);

// The largest type that still fits: a room reads from the back, and nothing may scroll out of sight.
function fit() {
  const box = document.querySelector(".proj-grid");
  if (!box || box.hidden) return;
  let size = 100;
  box.style.fontSize = `${size}%`;
  while (size > 35 && (box.scrollHeight > box.clientHeight + 1 || box.scrollWidth > box.clientWidth + 1)) {
    size -= 5;
    box.style.fontSize = `${size}%`;
  }
}

regions.addEventListener("applied", fit);
window.addEventListener("resize", fit);
fit();
live.connect();
