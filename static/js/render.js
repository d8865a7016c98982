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
    out.push(el("h3", { class: "day" }, data.dayLabels[day] || day));
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
          cell.append(el("span", { class: "t-title" }, topic.title));
          if (topic.convener_name) {
            cell.append(" ", el("span", { class: "t-conv" }, fill(t.by, { name: topic.convener_name })));
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

export function renderTopics(list, state, data) {
  const t = data.i18n;
  const topics = visibleTopics(state);
  const items = topics.map((topic) => {
    const mine = data.me && topic.convener_id === data.me;
    const slot = topic.slot_id && state.slots.get(topic.slot_id);
    const space = topic.space_id && state.spaces.get(topic.space_id);
    const where = slot && space
      ? `${data.dayShort[slot.day] || slot.day} ${slot.start}–${slot.end} · ${space.name}`
      : t.unplaced;
    return el("li", { class: mine ? "topic mine" : "topic", id: `topic-${topic.id}` },
      el("h3", { class: "t-title" }, topic.title),
      topic.convener_name ? el("p", { class: "t-conv" }, fill(t.by, { name: topic.convener_name })) : null,
      topic.description ? el("p", { class: "t-desc" }, topic.description) : null,
      el("p", { class: "t-where" }, where),
      mine ? el("p", { class: "t-mine" }, el("span", { class: "tag" }, t.yours), " ",
        el("a", { href: `/e/${data.slug}/topics/${topic.id}/edit` }, t.edit,
          el("span", { class: "visually-hidden" }, ` ${topic.title}`))) : null);
  });
  if (!items.length) items.push(el("li", { class: "empty" }, t.no_topics));
  list.replaceChildren(...items);
}
