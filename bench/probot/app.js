// The smallest useful Probot app: it verifies each delivery and dispatches it to a handler
// that does nothing. It keeps no record of deliveries, so it bounds what intake can cost
// without durability; route-me commits every delivery id (and fsyncs every job) as well.
import { run } from "probot";

run((app) => {
  app.on("issues.labeled", async () => {});
  app.on("issue_comment.created", async () => {});
});
