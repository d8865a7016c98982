// A session's page follows the board live: its room, capacity, "full" warning and head count are
// one region the server renders (regions.js). "I'm here" and "I'm leaving" go through the live
// connection (and its outbox, so a tap made offline is sent once the phone is back); the change
// they make brings this person's own buttons back with the region.
import { Live, pageData } from "./live.js";
import { enhanceForms } from "./forms.js";
import { Regions } from "./regions.js";

const data = pageData();
const live = new Live(data);
new Regions(live, data);
enhanceForms(document, live);
live.connect();
