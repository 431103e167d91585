{id: .["@id"], customer: .customer.name, lines: (.line | length), total: ([.line[] | .qty * .price] | add), skus: [.line[].sku]}
