// The news room: the reports, the dots and "you have N left" are regions the server renders for
// this person (regions.js); a vote goes over the live connection and its change refreshes them.
import { Live, pageData } from "./live.js";
import { enhanceForms } from "./forms.js";
import { Regions } from "./regions.js";

const data = pageData();
const live = new Live(data);
new Regions(live, data);
enhanceForms(document, live);
live.connect();
