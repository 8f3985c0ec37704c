// Vigil's web UI: a shell with client-side routes, served by the Go
// binary from the embedded bundle.
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { getToken, setToken, onUnauthorized } from "./api";
import { FIRING_EVENT, firingCount } from "./alerting";
import { h } from "./dom";
import { homePage } from "./home";
import { explorePage } from "./explore";
import { tracesPage } from "./traces";
import { tracePage } from "./trace";
import { logsPage } from "./logs";
import { serviceMapPage } from "./servicemap";
import { alertsPage } from "./alerts";
import { silencesPage } from "./silences";
import { slosPage } from "./slos";
import { anomaliesPage } from "./anomalies";
import { actionsPage } from "./actions";
import { setRenderer } from "./router";

type Page = (root: HTMLElement) => () => void;

const routes: Record<string, Page> = {
  "/": homePage,
  "/explore": explorePage,
  "/traces": tracesPage,
  "/logs": logsPage,
  "/service-map": serviceMapPage,
  "/alerts": alertsPage,
  "/silences": silencesPage,
  "/slos": slosPage,
  "/anomalies": anomaliesPage,
  "/actions": actionsPage,
};

// route finds the page for a path; /trace/{traceID} is the one route with
// a parameter.
function route(path: string): Page {
  if (/^\/trace\/[^/]+$/.test(path)) return tracePage;
  return routes[path] ?? notFound;
}

// The nav item that stays lit on pages under it.
const section = (path: string) => (path.startsWith("/trace/") ? "/traces" : path);

const app = document.getElementById("app")!;
const main = h("main");
const tokenLink = h("a", { href: "#", class: "token" });
const firingBadge = h("span", { class: "badge error-badge nav-badge", "data-testid": "nav-firing", hidden: "" });
const nav = h(
  "nav",
  {},
  h("a", { href: "/", class: "brand", "data-route": "" }, "Vigil"),
  h("a", { href: "/", "data-route": "" }, "Home"),
  h("a", { href: "/explore", "data-route": "" }, "Explore"),
  h("a", { href: "/traces", "data-route": "" }, "Traces"),
  h("a", { href: "/logs", "data-route": "" }, "Logs"),
  h("a", { href: "/service-map", "data-route": "" }, "Service map"),
  h("a", { href: "/alerts", "data-route": "" }, "Alerts", firingBadge),
  h("a", { href: "/silences", "data-route": "" }, "Silences"),
  h("a", { href: "/slos", "data-route": "" }, "SLOs"),
  h("a", { href: "/anomalies", "data-route": "" }, "Anomalies"),
  h("a", { href: "/actions", "data-route": "" }, "Actions"),
  h("span", { class: "spacer" }),
  tokenLink,
);
app.append(nav, main);

let cleanup: (() => void) | undefined;
function render() {
  cleanup?.();
  main.replaceChildren();
  const page = route(location.pathname);
  nav.querySelectorAll("a[data-route]").forEach((a) => a.classList.toggle("active", (a as HTMLAnchorElement).pathname === section(location.pathname) && !a.classList.contains("brand")));
  cleanup = page(main);
  tokenLink.textContent = getToken() ? "Forget token" : "";
  updateBadge();
}

// The nav's count of firing alerts (silenced and inhibited ones left
// out, as on the alerts page's Firing tab): one small request on each page
// change and every half minute. A failure leaves the badge as it was; the
// page itself reports errors.
let badgeAt = 0;
async function updateBadge() {
  if (Date.now() - badgeAt < 5000) return;
  badgeAt = Date.now();
  try {
    showBadge(await firingCount());
  } catch {
    // Shown by the pages that need the API.
  }
}
function showBadge(n: number) {
  firingBadge.textContent = String(n);
  firingBadge.hidden = n === 0;
  firingBadge.title = `${n} alert${n === 1 ? "" : "s"} firing`;
  firingBadge.dataset.count = String(n);
}
setInterval(updateBadge, 30_000);
// The alerts page knows the count first when it refreshes.
document.addEventListener(FIRING_EVENT, (e) => {
  badgeAt = Date.now();
  showBadge((e as CustomEvent<number>).detail);
});

function notFound(root: HTMLElement) {
  root.append(h("h1", {}, "Not found"), h("p", {}, "There is no page at ", h("code", {}, location.pathname), "."));
  return () => {};
}

// Links marked data-route, in the nav or on a page, change the page
// without reloading the bundle.
setRenderer(render);
document.addEventListener("click", (e) => {
  const a = (e.target as HTMLElement).closest("a[data-route]") as HTMLAnchorElement | null;
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || a.origin !== location.origin) return;
  e.preventDefault();
  const to = a.pathname + a.search;
  if (to !== location.pathname + location.search) {
    history.pushState(null, "", to);
    window.scrollTo(0, 0);
  }
  render();
});
window.addEventListener("popstate", render);
tokenLink.addEventListener("click", (e) => {
  e.preventDefault();
  setToken("");
  render();
});

// When the API asks for a token, ask the user once, then retry the page.
let dialog: HTMLDialogElement | undefined;
onUnauthorized(() => {
  if (dialog?.open) return;
  const input = h("input", { type: "password", name: "token", autocomplete: "off", "aria-label": "read token", placeholder: "read token" });
  const form = h(
    "form",
    { method: "dialog" },
    h("h2", {}, "This Vigil needs a read token"),
    h("p", {}, "Ask whoever runs it for the read token (", h("code", {}, "--read-token-file"), "). It is kept in this browser only."),
    input,
    h("div", { class: "actions" }, h("button", { class: "primary", type: "submit" }, "Use token")),
  );
  dialog = h("dialog", { class: "token-dialog" }, form);
  form.addEventListener("submit", () => {
    setToken(input.value.trim());
    setTimeout(render);
  });
  document.body.append(dialog);
  dialog.showModal();
});

render();
