// A page that only follows the board (the room page): its regions are the server's (regions.js).
import { Live, pageData } from "./live.js";
import { Regions } from "./regions.js";

const data = pageData();
const live = new Live(data);
new Regions(live, data);
live.connect();
