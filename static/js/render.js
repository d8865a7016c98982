// Builds the agenda grid and the marketplace from the live state, as the same markup the
// server renders in templates/_grid.html and templates/_topics.html. DOM calls only (no HTML
// strings), so user text can never become markup.

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

function fill(template, values) {
  return template.replace(/%\((\w+)\)s/g, (_, key) => String(values[key]));
}

// An address from the page data: the server names every one (data.urls), so no script builds a
// path; one that names a topic or a photo holds a {topic} or {name}, filled in here.
export function link(data, name, params = {}) {
  return data.urls[name].replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(params[key]));
}

export function orderedSpaces(state) {
  return [...state.spaces.values()].sort((a, b) => a.position - b.position || a.name.localeCompare(b.name));
}

export function orderedSlots(state) {
  const key = (s) => `${s.day} ${s.start} ${s.end}`;
  return [...state.slots.values()].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

export function visibleTopics(state) {
  return [...state.topics.values()]
    .filter((t) => t.status !== "hidden")
    .sort((a, b) => a.created_seq - b.created_seq || (a.id < b.id ? -1 : 1));
}

// The wall-clock date and time now in the event's time zone, as "YYYY-MM-DD" and "HH:MM".
export function eventNow(timezone, now = new Date()) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", {
      timeZone: timezone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(now).map((p) => [p.type, p.value]),
  );
  return { day: `${parts.year}-${parts.month}-${parts.day}`, clock: `${parts.hour}:${parts.minute}` };
}

export function slotStates(state, timezone) {
  const { day, clock } = eventNow(timezone);
  const states = {};
  let next = null;
  for (const slot of orderedSlots(state)) {
    if (slot.day === day && slot.start <= clock && clock < slot.end) states[slot.id] = "now";
    else if (!next && (slot.day > day || (slot.day === day && slot.start > clock))) next = slot;
  }
  if (next) states[next.id] = "next";
  return states;
}

// The projector shows one day: the one with the slot on now or next, else the first.
export function projectorDay(state, states) {
  const slots = orderedSlots(state);
  const current = slots.find((s) => states[s.id] === "now") || slots.find((s) => states[s.id] === "next");
  return current ? current.day : slots.length ? slots[0].day : null;
}

// The smallest free room in the slot that fits everyone (rooms without a capacity last).
function freeRoom(spaces, cells, slot, people) {
  const fits = spaces.filter((s) => !cells.has(`${slot.id} ${s.id}`) && (s.capacity === null || s.capacity >= people));
  fits.sort((a, b) => (a.capacity ?? 1e9) - (b.capacity ?? 1e9));
  return fits[0] || null;
}

export function renderGrid(container, state, data, { states = {}, onlyDay = null } = {}) {
  const t = data.i18n;
  const spaces = orderedSpaces(state);
  const days = new Map();
  for (const slot of orderedSlots(state)) {
    if (onlyDay && slot.day !== onlyDay) continue;
    if (!days.has(slot.day)) days.set(slot.day, []);
    days.get(slot.day).push(slot);
  }
  const cells = new Map();
  for (const topic of visibleTopics(state)) {
    if (topic.slot_id && topic.space_id) cells.set(`${topic.slot_id} ${topic.space_id}`, topic);
  }
  const out = [];
  if (!days.size || !spaces.length) {
    out.push(el("p", { class: "empty" }, t.no_slots));
  }
  for (const [day, slots] of spaces.length ? days : []) {
    out.push(el("h3", { class: "day", id: `day-${day}` }, data.dayLabels[day] || day));
    const head = el("tr", {}, el("th", { scope: "col", class: "time-col" }, t.time));
    for (const space of spaces) {
      head.append(el("th", { scope: "col" }, space.name,
        space.capacity ? " " : null,
        space.capacity ? el("span", { class: "cap" }, fill(space.capacity === 1 ? t.place : t.places, { num: space.capacity })) : null));
    }
    const body = el("tbody");
    for (const slot of slots) {
      const st = states[slot.id] || "";
      const row = el("tr", { "data-slot": slot.id, class: st || null },
        el("th", { scope: "row", class: "time" }, `${slot.start}–${slot.end}`,
          st ? " " : null, st ? el("span", { class: "badge" }, t[st]) : null));
      for (const space of spaces) {
        const topic = cells.get(`${slot.id} ${space.id}`);
        const cell = el("td", { "data-space": space.name });
        if (topic) {
          cell.append(el("a", { class: "t-title", href: link(data, "session", { topic: topic.id }) }, topic.title));
          if (topic.convener_name) {
            cell.append(" ", el("span", { class: "t-conv" }, fill(t.by, { name: topic.convener_name })));
          }
          if (st === "now") {
            cell.append(" ", el("span", { class: "t-here" }, fill(t.here, { num: topic.headcount })));
            if (space.capacity !== null && topic.headcount > space.capacity) {
              const roomy = freeRoom(spaces, cells, slot, topic.headcount);
              const values = { num: topic.headcount, capacity: space.capacity, space: roomy?.name };
              cell.append(" ", el("span", { class: "t-full" }, fill(roomy ? t.full_move : t.full, values)));
            }
            if (data.myAttendance && data.myAttendance[slot.id] === topic.id) {
              cell.append(" ", el("span", { class: "tag" }, t.you_here));
            }
          }
        } else {
          cell.append(el("span", { class: "free" }, t.free));
        }
        row.append(cell);
      }
      body.append(row);
    }
    out.push(el("div", { class: "grid-scroll" }, el("table", { class: "grid" }, el("thead", {}, head), body)));
  }
  container.replaceChildren(...out);
}

export const FRESH_MAX = 8;

export function renderFresh(list, state, data) {
  const t = data.i18n;
  const waiting = visibleTopics(state).filter((topic) => !(topic.slot_id && topic.space_id)).reverse();
  const items = waiting.slice(0, FRESH_MAX).map((topic) => el("li", {},
    el("span", { class: "t-title" }, topic.title),
    topic.convener_name ? " " : null,
    topic.convener_name ? el("span", { class: "t-conv" }, fill(t.by, { name: topic.convener_name })) : null));
  if (!items.length) items.push(el("li", { class: "empty" }, t.all_placed));
  list.replaceChildren(...items);
}

function conveners(topic) {
  return [topic.convener_name, topic.co_conveners].filter(Boolean).join(", ");
}

function convenedBy(topic, me) {
  return Boolean(me) && (topic.convener_id === me || topic.co_convener_ids.split(" ").includes(me));
}

// A small form that also works without JavaScript; forms.js sends it over the live connection.
function actionForm(data, action, anchor, fields, label, topicTitle, { pressed = null, secondary = true } = {}) {
  const form = el("form", { method: "post", action: data.urls.act, class: "inline", "data-action": action });
  const hidden = { csrf: data.csrf, _action: action, _return_to: "participant", _anchor: anchor, ...fields };
  for (const [name, value] of Object.entries(hidden)) form.append(el("input", { type: "hidden", name, value }));
  form.append(el("button", {
    type: "submit", class: secondary ? "small secondary" : "small",
    "aria-pressed": pressed === null ? null : String(pressed),
  }, label, el("span", { class: "visually-hidden" }, ` ${topicTitle}`)));
  return form;
}

export function pitchQueue(state) {
  return [...state.topics.values()]
    .filter((t) => t.queued_seq !== null && t.status === "open")
    .sort((a, b) => a.queued_seq - b.queued_seq || (a.id < b.id ? -1 : 1));
}

export function renderTopics(list, state, data) {
  const t = data.i18n;
  const topics = visibleTopics(state);
  const queue = pitchQueue(state).map((q) => q.id);
  const marked = new Set(data.myInterests);
  const event = state.event;
  const openMarket = event.phase === "marketplace";
  const items = topics.map((topic) => {
    const mine = convenedBy(topic, data.me);
    const slot = topic.slot_id && state.slots.get(topic.slot_id);
    const space = topic.space_id && state.spaces.get(topic.space_id);
    const placed = Boolean(slot && space);
    const where = placed ? `${data.dayShort[slot.day] || slot.day} ${slot.start}–${slot.end} · ${space.name}` : t.unplaced;
    const anchor = `topic-${topic.id}`;
    const names = conveners(topic);
    const item = el("li", { class: mine ? "topic mine" : "topic", id: anchor },
      el("h3", { class: "t-title" }, topic.title),
      names ? el("p", { class: "t-conv" }, fill(t.by, { name: names })) : null,
      topic.description ? el("p", { class: "t-desc" }, topic.description) : null,
      el("p", { class: "t-where" }, where),
      topic.interest ? el("p", { class: "t-count" },
        fill(topic.interest === 1 ? t.interested_one : t.interested_many, { num: topic.interest })) : null);
    if (data.me) {
      const on = marked.has(topic.id);
      const actions = el("div", { class: "t-actions" },
        actionForm(data, "topic.interest", anchor, { topic: topic.id, on: on ? "0" : "1" },
          on ? t.going : t.want, topic.title, { pressed: on, secondary: !on }));
      if (mine) {
        actions.append(el("span", { class: "tag" }, t.yours));
        const position = queue.indexOf(topic.id) + 1;
        if (position) {
          actions.append(el("p", { class: "t-queue" }, fill(t.in_queue, { num: position })),
            actionForm(data, "pitch.leave", anchor, { topic: topic.id }, t.leave_queue, topic.title));
        } else if (openMarket && !placed) {
          actions.append(actionForm(data, "pitch.join", anchor, { topic: topic.id }, t.pitch, topic.title));
        }
        if (openMarket && event.self_placement && !topic.pinned) {
          actions.append(el("a", { class: "button small secondary", href: link(data, "placeTopic", { topic: topic.id }) },
            t.place_own, el("span", { class: "visually-hidden" }, ` ${topic.title}`)));
        }
        actions.append(el("a", { class: "button small secondary", href: link(data, "editTopic", { topic: topic.id }) },
          t.edit, el("span", { class: "visually-hidden" }, ` ${topic.title}`)));
      }
      item.append(actions);
    }
    return item;
  });
  if (!items.length) items.push(el("li", { class: "empty" }, t.no_topics));
  list.replaceChildren(...items);
}

// The strip on every screen: phase, countdown and announcements (see templates/_banner.html).
export function countdownText(state, data, states, offsetMs) {
  const t = data.i18n;
  const now = Date.now() + offsetMs;
  const format = (ms) => {
    const seconds = Math.max(0, Math.floor(ms / 1000));
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  };
  const bell = state.event.bell_until && Date.parse(state.event.bell_until);
  if (bell && bell > now) return fill(t.bell, { time: format(bell - now) });
  const current = orderedSlots(state).find((s) => states[s.id] === "now");
  if (!current) return "";
  const { day, clock } = eventNow(state.event.timezone, new Date(now));
  const toMinutes = (hhmm) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
  const seconds = new Date(now).getSeconds();
  const left = day === current.day ? (toMinutes(current.end) - toMinutes(clock)) * 60 - seconds : 0;
  return fill(t.ends_in, { time: format(left * 1000) });
}

export function renderBanner(banner, state, data, states, offsetMs) {
  const t = data.i18n;
  const phase = banner.querySelector("[data-phase]");
  phase.dataset.phase = state.event.phase;
  phase.textContent = t[`phase_${state.event.phase}`];
  const countdown = banner.querySelector("[data-countdown]");
  const text = countdownText(state, data, states, offsetMs);
  countdown.hidden = !text;
  countdown.textContent = text;
  const now = new Date(Date.now() + offsetMs).toISOString();
  const active = [...state.announcements.values()]
    .filter((a) => new Date(a.expires_at).toISOString() > now)
    .sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  const list = banner.querySelector("[data-announcements]");
  const texts = active.map((a) => a.text);
  if (texts.join("\n") !== [...list.children].map((li) => li.textContent).join("\n")) {
    list.replaceChildren(...texts.map((text) => el("li", {}, text)));
  }
}

// The news room (templates/news.html): reports newest first. Their HTML was rendered and
// sanitised by the server when saved (markup.py), so it is inserted as it is.
export function renderNews(container, state, data) {
  const t = data.i18n;
  const fields = ["discussion", "insights", "recommendations"];
  const reports = [...state.reports.values()].sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1));
  const voting = state.event.voting_dots;
  const cards = [];
  for (const report of reports) {
    const topic = state.topics.get(report.id);
    const html = JSON.parse(report.html || "{}");
    if (topic?.status !== "open" || !hasReport(report)) continue;
    const card = el("article", { class: "card news-card", id: `report-${topic.id}`, "aria-labelledby": `news-${topic.id}` },
      el("h2", { id: `news-${topic.id}` }, el("a", { href: link(data, "report", { topic: topic.id }) }, topic.title)));
    if (topic.convener_name) card.append(el("p", { class: "t-conv" }, fill(t.by, { name: topic.convener_name })));
    for (const field of fields) {
      if (!html[field]) continue;
      const block = el("div", { class: "md" });
      block.innerHTML = html[field]; // sanitised by the server (nh3), never raw user HTML
      card.append(block);
    }
    const photos = [...state.photos.values()].filter((p) => p.topic_id === topic.id);
    if (photos.length) {
      card.append(el("ul", { class: "photos" }, ...photos.map((p, i) => el("li", {},
        el("img", { src: link(data, "thumb", { name: p.name }), width: p.thumb_width, height: p.thumb_height,
          alt: fill(t.photo_of, { num: i + 1, title: topic.title }) })))));
    }
    if (voting) {
      card.append(el("p", { class: "t-count" }, fill(topic.dots === 1 ? t.dot : t.dots, { num: topic.dots })));
      if (data.me) {
        const anchor = `report-${topic.id}`;
        card.append(el("div", { class: "t-actions" },
          newsVote(data, anchor, topic, "1", t.give_dot, "small"),
          newsVote(data, anchor, topic, "0", t.take_dot, "small secondary")));
      }
    }
    cards.push(card);
  }
  if (!cards.length) cards.push(el("p", { class: "empty" }, t.no_reports));
  container.replaceChildren(...cards);
}

function newsVote(data, anchor, topic, on, label, cls) {
  const form = el("form", { method: "post", action: data.urls.act, class: "inline", "data-action": "vote" });
  const fields = { csrf: data.csrf, _action: "vote", _return_to: "news", _anchor: anchor, topic: topic.id, on };
  for (const [name, value] of Object.entries(fields)) form.append(el("input", { type: "hidden", name, value }));
  form.append(el("button", { type: "submit", class: cls }, label, el("span", { class: "visually-hidden" }, ` ${topic.title}`)));
  return form;
}

// The projector's results face while a dot-vote is open: sessions by dots, most first.
// As harvest.has_report: a report row (a lock makes one) is not a report until it has text.
const REPORT_FIELDS = ["participants", "discussion", "insights", "recommendations"];
function hasReport(report) {
  return Boolean(report) && REPORT_FIELDS.some((f) => report[f]);
}

export function renderVotes(list, state) {
  const ranked = [...state.topics.values()]
    .filter((t) => t.status === "open" && hasReport(state.reports.get(t.id)))
    .sort((a, b) => b.dots - a.dots || a.title.localeCompare(b.title));
  const most = Math.max(1, ...ranked.map((t) => t.dots));
  list.replaceChildren(...ranked.map((t) => el("li", {},
    el("span", { class: "t-title" }, t.title), " ",
    el("meter", { min: "0", max: String(most), value: String(t.dots) }), " ",
    el("span", { class: "t-count" }, String(t.dots)))));
}
