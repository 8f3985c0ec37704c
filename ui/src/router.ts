// Client-side navigation: pages change the URL through navigate, and the
// shell (main.ts) renders the page for it.
let render: (() => void) | undefined;

export function setRenderer(f: () => void) {
  render = f;
}

// navigate shows url (a path with an optional query) as a new history
// entry, or in place of the current one with replace.
export function navigate(url: string, replace = false) {
  if (replace) history.replaceState(null, "", url);
  else {
    history.pushState(null, "", url);
    window.scrollTo(0, 0);
  }
  render?.();
}
