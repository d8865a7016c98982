// The projector: its faces (the topic being pitched, the dot-vote's results, the opening, the
// marketplace wall, the agenda) and the wall of new topics are regions the server renders
// (regions.js). This script only lays them out for this screen, with per-device styles a morph
// leaves alone: the agenda's type as large as fits, but never below what the back of a hall can
// read; what still does not fit is split into pages that take turns (#15), never cut off. The
// arrow keys, Page Up/Down and the space bar turn the pages by hand.
import { Live, pageData } from "./live.js";
import { Regions } from "./regions.js";

const data = pageData();
const live = new Live(data);
const regions = new Regions(live, data);

const TURN_MS = 15000; // how long a page stays up before the next
const pager = document.querySelector("[data-pager]");
let pages = []; // [{face, items}]: one face shown, and of its items only these
let at = 0;
let timer = null;

// The smallest title the back of the room can read: 24 px on a full-HD projector, 18 px below.
const floorPx = () => (window.innerWidth >= 1600 ? 24 : 18);

const faces = () => [...document.querySelectorAll(".proj-wall, .proj-closing, .proj-grid")].filter((face) => !face.hidden);

function itemsOf(face) {
  if (face.matches(".proj-grid")) return [...face.querySelectorAll(".grid tbody tr")];
  return [...face.querySelectorAll("[data-page-items] > li")];
}

const boxOf = (face) => (face.matches(".proj-grid") ? face : face.querySelector("[data-page-items]"));

const fits = (face) => {
  const box = boxOf(face);
  return box.scrollHeight <= box.clientHeight + 1 && box.scrollWidth <= box.clientWidth + 1;
};

// Shrink the agenda's type towards the floor while it overflows; below the floor it pages instead.
function size(face) {
  if (!face.matches(".proj-grid")) return;
  const base = parseFloat(getComputedStyle(document.body).fontSize);
  let px = Math.max(base, floorPx());
  face.style.fontSize = `${px}px`;
  for (let i = 0; i < 40 && px > floorPx() && !fits(face); i += 1) {
    px = Math.max(floorPx(), px - 1);
    face.style.fontSize = `${px}px`;
  }
}

// Split a face's items into pages: each page takes, in order, every item whose box ends inside
// the face when the earlier pages' items are put away (at least one, so the loop always ends).
function paginate(face) {
  const items = itemsOf(face);
  for (const item of items) item.style.display = "";
  const box = boxOf(face);
  const found = [];
  let rest = items;
  while (rest.length) {
    const bottom = box.getBoundingClientRect().bottom + 1;
    let count = rest.findIndex((item) => item.getBoundingClientRect().bottom > bottom);
    if (count === -1) count = rest.length;
    count = Math.max(1, count);
    found.push({ face, items: rest.slice(0, count) });
    for (const item of rest.slice(0, count)) item.style.display = "none";
    rest = rest.slice(count);
  }
  for (const item of items) item.style.display = "";
  return found.length ? found : [{ face, items }];
}

function show(index) {
  if (timerOn) {
    for (const face of document.querySelectorAll(".proj > section:not(.proj-timer)")) face.style.display = "none";
    pager.hidden = true;
    clearTimeout(timer);
    return;
  }
  at = ((index % pages.length) + pages.length) % pages.length;
  const page = pages[at];
  for (const face of faces()) {
    face.style.display = face === page.face ? "" : "none";
    const shown = new Set(face === page.face ? page.items : []);
    for (const item of itemsOf(face)) item.style.display = shown.has(item) ? "" : "none";
  }
  pager.hidden = pages.length < 2;
  pager.textContent = pager.dataset.label.replace("{page}", at + 1).replace("{pages}", pages.length);
  clearTimeout(timer);
  if (pages.length > 1) timer = setTimeout(() => show(at + 1), TURN_MS);
}

function layout() {
  timerFace.hidden = !timerOn;
  for (const face of document.querySelectorAll(".proj > section:not(.proj-timer)")) face.style.display = "";
  pages = [];
  // the pager's line is always laid out (hidden only from sight), so pages measured without it fit with it
  pager.textContent = pager.dataset.label.replace("{page}", 1).replace("{pages}", 1);
  for (const face of faces()) {
    for (const other of faces()) other.style.display = other === face ? "" : "none";
    size(face);
    pages.push(...paginate(face));
  }
  for (const face of document.querySelectorAll(".proj-wall, .proj-closing, .proj-grid")) {
    if (face.hidden) face.style.display = "";
  }
  if (timerOn || pages.length) {
    show(at);
    return;
  }
  pager.hidden = true;
  clearTimeout(timer);
}

// The timer face (#15): the banner's countdown (the facilitator's bell, else the running slot's
// end) drawn as large as the screen allows, and during a pitch beside the spotlight too. The chime
// is synthesised by WebAudio, so no sound file is fetched; a browser plays sound only after a
// press, which the "Chime at zero" button is.
const timerFace = document.querySelector("[data-proj-timer]");
const chime = timerFace.querySelector("[data-chime]");
let timerOn = new URLSearchParams(location.search).get("face") === "timer";
let audio = null;
let lastLeft = null;

function ring() {
  if (!audio) return;
  const start = audio.currentTime;
  for (const [offset, pitch] of [[0, 880], [0.35, 660], [0.7, 880]]) {
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = pitch;
    gain.gain.setValueAtTime(0.0001, start + offset);
    gain.gain.exponentialRampToValueAtTime(0.4, start + offset + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.6);
    tone.connect(gain).connect(audio.destination);
    tone.start(start + offset);
    tone.stop(start + offset + 0.65);
  }
  document.documentElement.dataset.chimed = String(Number(document.documentElement.dataset.chimed || 0) + 1);
}

function clockText(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000)); // as the banner's clock (regions.js)
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${String(seconds % 60).padStart(2, "0")}`;
}

function tick() {
  const source = document.querySelector("[data-banner] [data-countdown]");
  const until = source && !source.hidden ? source.dataset.until : "";
  const kind = source ? source.dataset.kind : "";
  const left = until ? Date.parse(until) - (Date.now() + regions.offset) : null;
  const label = timerFace.querySelector("[data-timer-label]");
  const clockNode = timerFace.querySelector("[data-timer-clock]");
  const text = left === null ? "–:––" : clockText(left);
  label.textContent = left === null ? timerFace.dataset.none : timerFace.dataset[kind === "bell" ? "bell" : "slot"];
  if (clockNode.textContent !== text) clockNode.textContent = text;
  const spot = document.querySelector("[data-spot-clock]");
  if (spot) {
    spot.hidden = !(left !== null && kind === "bell");
    if (!spot.hidden && spot.textContent !== text) spot.textContent = text;
  }
  if (left !== null && lastLeft !== null && lastLeft > 0 && left <= 0 && chime.getAttribute("aria-pressed") === "true") ring();
  lastLeft = left;
}

chime.addEventListener("click", () => {
  const on = chime.getAttribute("aria-pressed") !== "true";
  chime.setAttribute("aria-pressed", String(on));
  if (on && !audio) audio = new AudioContext();
});

document.addEventListener("keydown", (event) => {
  if (event.target instanceof HTMLButtonElement && event.key === " ") return;
  if (event.key === "t" || event.key === "T") {
    timerOn = !timerOn;
    layout();
  } else if (["ArrowRight", "PageDown", " "].includes(event.key)) show(at + 1);
  else if (["ArrowLeft", "PageUp"].includes(event.key)) show(at - 1);
  else return;
  event.preventDefault();
});
regions.addEventListener("applied", layout);
window.addEventListener("resize", layout);
layout();
setInterval(tick, 250);
tick();
live.connect();
