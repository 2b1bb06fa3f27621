// Each embedded page of live views is made as tall as its content (and follows it when a view
// grows), so the reader scrolls the docs page, not a box inside it. Served from a file:// URL
// the frame's document cannot be read; it then keeps its CSS height and scrolls.
function fitLiveViews() {
  for (const frame of document.querySelectorAll("iframe.nb-live")) {
    const fit = () => {
      let body;
      try { body = frame.contentDocument && frame.contentDocument.body; } catch (e) { return; }
      if (!body) return;
      const resize = () => { frame.style.height = `${body.scrollHeight + 24}px`; };
      resize();
      new ResizeObserver(resize).observe(body);
    };
    frame.addEventListener("load", fit);
    if (frame.contentDocument && frame.contentDocument.readyState === "complete") fit();
  }
}
document.addEventListener("DOMContentLoaded", fitLiveViews);
