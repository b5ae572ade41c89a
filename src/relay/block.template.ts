// The block document template: {{field}} slots are filled with HTML-escaped block fields
// (BlockTemplate in block-doc.ts); the two meta tags are what relay servers read back.
export const BLOCK_TEMPLATE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="block-number" content="{{number}}">
<meta name="block-hash" content="{{hash}}">
<title>Block {{number}}</title>
</head>
<body>
<h1>Block {{number}}</h1>
<dl>
<dt>Hash</dt><dd>{{hash}}</dd>
<dt>Parent hash</dt><dd>{{parentHash}}</dd>
<dt>Timestamp</dt><dd><time datetime="{{isoTime}}">{{isoTime}}</time> ({{timestamp}})</dd>
<dt>Transactions</dt><dd>{{transactions}}</dd>
<dt>Gas used</dt><dd>{{gasUsed}}</dd>
<dt>Miner</dt><dd>{{miner}}</dd>
</dl>
</body>
</html>`;
