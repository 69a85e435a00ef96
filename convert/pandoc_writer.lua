-- seedpress's pandoc writer process: one per process that renders editions.
-- Reads requests "<format> <length>\n<JSON AST>" on stdin and answers
-- "ok <length>\n<bytes>" or "error <length>\n<message>" on stdout, so many
-- documents are written by one pandoc instead of one pandoc each.
-- A request "read:<reader> <length>\n<text>" reads the text with that reader
-- (a master's body with the restricted Markdown reader) and answers its JSON AST,
-- sandboxed as `pandoc --sandbox` is: the reader is given no file to read.
-- arg[1]: the DOCX reference document (without it, no DOCX is written).
--
-- The AST comes from seedpress's own document model: it never holds images,
-- raw HTML/TeX or anything else a writer would fetch or pass through. That is
-- checked here too, so this process reads nothing but the reference document.

local options = {
  epub3 = {
    split_level = 1,
    toc_depth = 1,
    template = pandoc.template.compile(pandoc.template.default('epub3')),
  },
  docx = arg[1] and { reference_doc = arg[1] } or nil,
}

local function check(doc)
  local found = nil
  local function refuse(element)
    found = found or element.tag
  end
  doc:walk({ Image = refuse, RawBlock = refuse, RawInline = refuse, Figure = refuse })
  if found then
    error('refused: the document holds a ' .. found .. ' element')
  end
end

while true do
  local header = io.stdin:read('l')
  if not header then break end
  local format, length = header:match('^(%S+) (%d+)$')
  length = tonumber(length) or 0
  -- read(0) would wait for a byte past the request (it tests for the end of input).
  local payload = length > 0 and io.stdin:read(length) or ''
  local ok, result = pcall(function()
    local reader = format:match('^read:(.+)$')
    if reader then
      return pandoc.write(pandoc.read(payload, reader, {}, {}), 'json')
    end
    if not options[format] then error('unknown format ' .. tostring(format)) end
    local doc = pandoc.read(payload, 'json')
    check(doc)
    return pandoc.write(doc, format, options[format])
  end)
  if not ok then
    result = tostring(result)
    io.stdout:write('error ', #result, '\n', result)
  else
    io.stdout:write('ok ', #result, '\n', result)
  end
  io.stdout:flush()
end
