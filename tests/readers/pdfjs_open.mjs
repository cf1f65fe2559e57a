// Open PDFs with pdf.js (Firefox's PDF engine) the way its viewer does.
// stdin: one JSON object per line, {"file": ..., "password": ... or null}
// stdout: one JSON object per line, {"file", "opened": true|false, "error", "pages", "text" (first page)}
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { getDocument } from "pdfjs-dist/legacy/build/pdf.mjs";

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const { file, password } = JSON.parse(line);
  const out = { file, opened: false };
  try {
    const doc = await getDocument({ data: new Uint8Array(readFileSync(file)), password: password ?? undefined,
                                    verbosity: 0, isEvalSupported: false }).promise;
    const page = await doc.getPage(1);
    out.text = (await page.getTextContent()).items.map((item) => item.str).join(" ");
    out.pages = doc.numPages;
    out.opened = true;
    await doc.destroy();
  } catch (err) {
    out.error = err.name;
  }
  console.log(JSON.stringify(out));
}
